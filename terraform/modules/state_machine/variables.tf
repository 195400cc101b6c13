variable "name" {
  description = "Name of the state machine."
  type        = string

  validation {
    condition     = can(regex("^[0-9A-Za-z_-]{1,80}$", var.name))
    error_message = "name may hold only letters, digits, '-' and '_' (at most 80)."
  }
}

variable "type" {
  description = "STANDARD (long-running, exactly-once, waits on task tokens) or EXPRESS."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "EXPRESS"], var.type)
    error_message = "type must be STANDARD or EXPRESS."
  }
}

variable "definition_file" {
  description = "Path of the Amazon States Language template (e.g. statemachines/iteration.asl.json), rendered with templatefile()."
  type        = string
}

variable "definition_variables" {
  description = "Variables for templatefile(): each `$${name}` in the definition is replaced (e.g. function ARNs, bucket names)."
  type        = any
  default     = {}
}

variable "lambda_function_arns" {
  description = "ARNs of the Lambda functions the state machine may invoke (their versions and aliases included); nothing else is invocable."
  type        = list(string)
  default     = []
}

variable "policy_statements" {
  description = "Further IAM statements for the role, e.g. s3:GetObject on a prefix or states:SendTaskSuccess. Name the resources."
  type = list(object({
    sid       = optional(string)
    effect    = optional(string, "Allow")
    actions   = list(string)
    resources = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = []
}

variable "log_level" {
  description = "Execution history events that are logged: ALL, ERROR, FATAL or OFF."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.log_level)
    error_message = "log_level must be ALL, ERROR, FATAL or OFF."
  }
}

variable "include_execution_data" {
  description = "Log state inputs and outputs too. They hold user text, so it is off unless debugging."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the execution log group, in days."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key ARN that encrypts the log group; null for CloudWatch's own encryption. The key policy must allow the logs service."
  type        = string
  default     = null
}

variable "tracing_enabled" {
  description = "Trace executions with X-Ray."
  type        = bool
  default     = true
}

variable "role_name" {
  description = "Name of the execution role; null for `<name>-sfn`."
  type        = string
  default     = null
}

variable "role_permissions_boundary" {
  description = "ARN of a permissions boundary policy for the execution role."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags to add to every resource."
  type        = map(string)
  default     = {}
}
