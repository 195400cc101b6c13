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

output "api_key_ids" {
  description = "ID of each client's API key, by client name (API Gateway passes it to the integration as requestContext.identity.apiKeyId)."
  value       = { for name, key in aws_api_gateway_api_key.this : name => key.id }
}

output "api_key_values" {
  description = "Value of each client's API key, by client name; sent in the x-api-key header."
  value       = { for name, key in aws_api_gateway_api_key.this : name => key.value }
  sensitive   = true
}

output "access_log_group_name" {
  description = "Name of the stage's access log group."
  value       = aws_cloudwatch_log_group.access.name
}

output "usage_plan_ids" {
  description = "ID of each client's usage plan, by client name."
  value       = { for name, plan in aws_api_gateway_usage_plan.this : name => plan.id }
}
