output "api_url" {
  description = "Base URL of the API stage; append a route, e.g. health."
  value       = "${module.textloop.api_invoke_url}/"
}

output "api_key" {
  description = "API key to send in the x-api-key header."
  value       = module.textloop.api_key_value
  sensitive   = true
}

output "rest_api_id" {
  description = "ID of the REST API."
  value       = module.textloop.rest_api_id
}

output "state_machine_arn" {
  description = "ARN of the active-learning iteration state machine."
  value       = module.textloop.state_machines["iteration"].arn
}

output "data_lake_bucket" {
  description = "Name of the data lake bucket."
  value       = module.textloop.data_lake_bucket_name
}

output "health_function_name" {
  description = "Name of the health function."
  value       = module.textloop.functions["health"].function_name
}

output "notifications_topic_arn" {
  description = "ARN of the notifications topic; subscribe (e.g. by e-mail) to receive alarms."
  value       = module.textloop.notifications_topic_arn
}
