output "rest_api_id" {
  description = "ID of the REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "execution_arn" {
  description = "Execution ARN of the REST API (prefix of the ARNs in Lambda permissions)."
  value       = aws_api_gateway_rest_api.this.execution_arn
}

output "stage_name" {
  description = "Name of the stage."
  value       = aws_api_gateway_stage.this.stage_name
}

output "invoke_url" {
  description = "URL of the stage on AWS (https://<id>.execute-api.<region>.amazonaws.com/<stage>). LocalStack serves it at <endpoint>/_aws/execute-api/<id>/<stage>/ instead."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "api_key_id" {
  description = "ID of the API key bound to the stage's usage plan."
  value       = aws_api_gateway_api_key.this.id
}

output "api_key_value" {
  description = "Value of the API key; send it in the x-api-key header."
  value       = aws_api_gateway_api_key.this.value
  sensitive   = true
}

output "access_log_group_name" {
  description = "Name of the stage's access log group."
  value       = aws_cloudwatch_log_group.access.name
}

output "usage_plan_id" {
  description = "ID of the usage plan."
  value       = aws_api_gateway_usage_plan.this.id
}
