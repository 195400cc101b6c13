output "bucket_name" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the bucket's objects (created here or passed in)."
  value       = local.kms_key_arn
}

output "prefixes" {
  description = "Map of prefix name to key prefix with a trailing slash, e.g. { feedback = \"feedback/\" }."
  value       = local.prefixes
}

output "prefix_uris" {
  description = "Map of prefix name to its s3:// URI, e.g. { feedback = \"s3://bucket/feedback/\" }."
  value       = { for name, prefix in local.prefixes : name => "s3://${aws_s3_bucket.this.id}/${prefix}" }
}
