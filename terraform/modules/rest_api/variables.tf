variable "name" {
  description = "Name of the REST API; also prefixes its API key, usage plan and log group."
  type        = string
}

variable "description" {
  description = "Description of the REST API."
  type        = string
  default     = null
}

variable "routes" {
  description = <<-EOT
    Map of "METHOD /path" to the Lambda function serving it, e.g.
    { "POST /classify" = { function_name = "...", invoke_arn = "..." } }.
    Paths may nest up to 5 segments and use {param} segments; METHOD may be ANY.
  EOT
  type = map(object({
    function_name        = string
    invoke_arn           = string
    api_key_required     = optional(bool, true)
    timeout_milliseconds = optional(number, 29000)
    # Checked by var.cognito_authorizer too (when that is set).
    use_cognito_authorizer = optional(bool, false)
  }))

  validation {
    condition = alltrue([
      for key in keys(var.routes) :
      can(regex("^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) /([^/ ]+(/[^/ ]+){0,4})?$", key))
    ])
    error_message = "Route keys must look like \"GET /health\" or \"POST /feedback/batch\" (a method, one space, a path of at most 5 segments)."
  }
}

variable "api_keys" {
  description = "One API key and one usage plan per client, by client name (it ends up in the key's and plan's names). Limits left null take the usage_plan_* defaults."
  type = map(object({
    rate_limit  = optional(number)
    burst_limit = optional(number)
    quota_limit = optional(number)
  }))
  default = {}

  validation {
    condition     = alltrue([for name in keys(var.api_keys) : can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", name))])
    error_message = "api_keys names must be 1-64 letters, digits, '-' or '_', starting with a letter or digit."
  }
}

variable "cognito_authorizer" {
  description = "User pool whose tokens API Gateway checks (a COGNITO_USER_POOLS authorizer on the routes with use_cognito_authorizer = true) before the function runs; null for none. The functions still verify the token and its groups."
  type = object({
    user_pool_arn = string
  })
  default = null
}

variable "stage_name" {
  description = "Name of the stage (appears in the invoke URL)."
  type        = string
}

variable "xray_tracing_enabled" {
  description = "Trace requests through the stage with X-Ray."
  type        = bool
  default     = true
}

variable "execution_logging_level" {
  description = "Execution logging level of every method: OFF, ERROR or INFO. Needs the account-level CloudWatch role."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.execution_logging_level)
    error_message = "execution_logging_level must be OFF, ERROR or INFO."
  }
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second the stage accepts, all clients together."
  type        = number
  default     = 50
}

variable "throttling_burst_limit" {
  description = "Burst of requests the stage accepts, all clients together."
  type        = number
  default     = 100
}

variable "usage_plan_rate_limit" {
  description = "Steady-state requests per second allowed per API key, unless its api_keys entry sets rate_limit."
  type        = number
  default     = 20
}

variable "usage_plan_burst_limit" {
  description = "Burst of requests allowed per API key, unless its api_keys entry sets burst_limit."
  type        = number
  default     = 40
}

variable "usage_plan_quota_limit" {
  description = "Requests allowed per API key per quota period, unless its api_keys entry sets quota_limit."
  type        = number
  default     = 100000
}

variable "usage_plan_quota_period" {
  description = "Quota period: DAY, WEEK or MONTH."
  type        = string
  default     = "DAY"

  validation {
    condition     = contains(["DAY", "WEEK", "MONTH"], var.usage_plan_quota_period)
    error_message = "usage_plan_quota_period must be DAY, WEEK or MONTH."
  }
}

variable "log_retention_days" {
  description = "Retention of the access log group, in days."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key ARN that encrypts the access log group; null for CloudWatch's own encryption. The key policy must allow the logs service."
  type        = string
  default     = null
}

variable "create_account_cloudwatch_role" {
  description = "Create the IAM role API Gateway needs to write logs and set it on the account (aws_api_gateway_account). This is one setting per account and region: enable it in one stack only, and destroying that stack unsets it."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags to add to every resource."
  type        = map(string)
  default     = {}
}
