output "api_url" {
  description = "Base URL of the API stage as LocalStack serves it (path-style; DNS-style URLs do not resolve here). Append a route, e.g. health."
  value       = "${trimsuffix(var.localstack_endpoint, "/")}/_aws/execute-api/${module.textloop.rest_api_id}/${module.textloop.api_stage_name}/"
}

output "api_key" {
  description = "API key of the first client application (by id) to send in the x-api-key header: the one the CLI, the demo and the tests use."
  value       = module.textloop.client_api_keys[sort(keys(var.client_applications))[0]]
  sensitive   = true
}

output "api_keys" {
  description = "API key of every client application, by application id."
  value       = module.textloop.client_api_keys
  sensitive   = true
}

output "client_applications" {
  description = "Per client application: API key id, usage plan id, trust, upload role ARN and upload prefixes."
  value       = module.textloop.client_applications
}

output "rest_api_id" {
  description = "ID of the REST API."
  value       = module.textloop.rest_api_id
}

output "state_machine_arn" {
  description = "ARN of the active-learning iteration state machine."
  value       = module.textloop.state_machines["iteration"].arn
}

output "state_machine_arns" {
  description = "ARN of every state machine, by key."
  value       = { for key, machine in module.textloop.state_machines : key => machine.arn }
}

output "feedback_queue" {
  description = "The intake queue (URL, ARN) and its dead-letter queue (dlq_url, dlq_arn)."
  value       = module.textloop.feedback_queue
}

output "data_lake_bucket" {
  description = "Name of the data lake bucket."
  value       = module.textloop.data_lake_bucket_name
}

output "artifacts_bucket" {
  description = "Name of the artifacts bucket."
  value       = module.textloop.artifacts_bucket_name
}

output "health_function_name" {
  description = "Name of the health function."
  value       = module.textloop.functions["health"].function_name
}

output "function_names" {
  description = "Name of every function, by key."
  value       = { for key, function in module.textloop.functions : key => function.function_name }
}

output "notifications_topic_arn" {
  description = "ARN of the notifications topic."
  value       = module.textloop.notifications_topic_arn
}

output "layer_arn" {
  description = "ARN of the shared layer version."
  value       = module.textloop.layer_arn
}

output "people_token_key_arn" {
  description = "ARN of the KMS key that signs people tokens (`textloop users token`)."
  value       = module.textloop.people_token_key_arn
}

output "people_token_issuer" {
  description = "iss and aud of people tokens."
  value       = module.textloop.people_token_issuer
}

output "people_directory_prefix" {
  description = "SSM parameter path of the local user directory (`textloop users add/list`)."
  value       = module.textloop.people_directory_prefix
}

output "stack" {
  description = "The stack as `textloop resources` reads it: terraform output -json stack | textloop resources --stack-file - list"
  value       = module.textloop.stack
}
