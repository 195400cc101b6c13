output "arn" {
  description = "ARN of the layer version (with the version number); pass this in a function's `layers`."
  value       = aws_lambda_layer_version.this.arn
}

output "layer_arn" {
  description = "ARN of the layer (without the version number)."
  value       = aws_lambda_layer_version.this.layer_arn
}

output "version" {
  description = "Version number of the layer."
  value       = aws_lambda_layer_version.this.version
}

output "input_hash" {
  description = "SHA-256 of every input of the package; it changes exactly when the layer is rebuilt."
  value       = local.input_hash
}

output "package_path" {
  description = "Local path of the built zip."
  value       = local.package_path
}

output "s3_bucket" {
  description = "Bucket holding the zip."
  value       = aws_s3_object.package.bucket
}

output "s3_key" {
  description = "Key of the zip in the artifacts bucket."
  value       = aws_s3_object.package.key
}

output "packager_script" {
  description = "Path of package.py, for other modules that package code the same way."
  value       = local.packager
}
