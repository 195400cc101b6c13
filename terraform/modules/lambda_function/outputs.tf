output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "ARN API Gateway uses to invoke the function."
  value       = aws_lambda_function.this.invoke_arn
}

output "role_name" {
  description = "Name of the execution role."
  value       = aws_iam_role.this.name
}

output "role_arn" {
  description = "ARN of the execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue, or null."
  value       = try(aws_sqs_queue.dlq[0].arn, null)
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue, or null."
  value       = try(aws_sqs_queue.dlq[0].url, null)
}

output "source_hash" {
  description = "SHA-256 of the function's source files and packager; changes exactly when the package is rebuilt."
  value       = local.source_hash
}

output "package_path" {
  description = "Local path of the built zip."
  value       = local.package_path
}
