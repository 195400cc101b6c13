variable "function_name" {
  description = "Name of the Lambda function; also names its role, log group, DLQ and alarms."
  type        = string
}

variable "description" {
  description = "Description of the function."
  type        = string
  default     = null
}

variable "source_dir" {
  description = "Directory holding the function's code (e.g. functions/health); zipped as the package root. Relative paths are resolved from the root module's directory."
  type        = string
}

variable "handler" {
  description = "Function entry point as `module.function`; the module file must exist in `source_dir`."
  type        = string
  default     = "app.handler"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)+$", var.handler))
    error_message = "handler must look like `module.function`, e.g. app.handler."
  }
}

variable "runtime" {
  description = "Lambda runtime identifier."
  type        = string
  default     = "python3.13"
}

variable "architectures" {
  description = "Instruction set architecture; must match the layers' wheels."
  type        = list(string)
  default     = ["x86_64"]
}

variable "memory_size" {
  description = "Memory in MB (CPU scales with it)."
  type        = number
  default     = 256
}

variable "timeout" {
  description = "Timeout in seconds."
  type        = number
  default     = 30
}

variable "layers" {
  description = "Layer version ARNs, in order (at most 5)."
  type        = list(string)
  default     = []
}

variable "environment_variables" {
  description = "Environment variables of the function; encrypted at rest with `kms_key_arn`. Do not put secrets here: read them from SSM or Secrets Manager."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "KMS key ARN that encrypts the environment variables, the log group and the DLQ; null for AWS managed keys."
  type        = string
  default     = null
}

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for (and capping) the function; null for none. New AWS accounts with a 10-execution limit cannot reserve any."
  type        = number
  default     = null
}

variable "tracing_mode" {
  description = "X-Ray tracing mode: Active or PassThrough."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group, in days (0 keeps logs forever)."
  type        = number
  default     = 365
}

variable "create_dead_letter_queue" {
  description = "Create an encrypted SQS queue that receives asynchronous events which failed every retry."
  type        = bool
  default     = true
}

variable "dead_letter_retention_seconds" {
  description = "How long failed events stay in the DLQ (max 14 days)."
  type        = number
  default     = 1209600
}

variable "policy_statements" {
  description = "IAM statements added to the function's role policy. Keep them least-privilege: name the resources."
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

variable "role_name" {
  description = "Name of the execution role; null to use the function name."
  type        = string
  default     = null
}

variable "role_permissions_boundary" {
  description = "ARN of a permissions boundary policy for the execution role."
  type        = string
  default     = null
}

variable "create_alarms" {
  description = "Create CloudWatch alarms on Errors > 0 and on messages in the DLQ."
  type        = bool
  default     = true
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified when an alarm changes state; null for alarms without actions."
  type        = string
  default     = null
}

variable "alarm_period_seconds" {
  description = "Period over which the alarms evaluate their metric."
  type        = number
  default     = 300
}

variable "python_executable" {
  description = "Python interpreter that runs the packager."
  type        = string
  default     = "python3"
}

variable "packager_script" {
  description = "Path of package.py; null for the one shipped in the lambda_layer module."
  type        = string
  default     = null
}

variable "build_dir" {
  description = "Directory the zip is written to; null for `<root module>/build`."
  type        = string
  default     = null
}

variable "cache_dir" {
  description = "Directory of finished zips shared between clones; null to use $TEXTLOOP_BUILD_CACHE if set."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags to add to every resource."
  type        = map(string)
  default     = {}
}
