variable "region" {
  description = "AWS region to deploy to; Amazon Comprehend custom models, flywheels and Amazon A2I must all be available there."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name (`<name_prefix>-<stage>-...`)."
  type        = string
  default     = "textloop"
}

variable "stage" {
  description = "Deployment stage (dev, prod...); part of every resource name and the API stage."
  type        = string
  default     = "prod"
}

variable "default_tags" {
  description = "Tags the provider adds to every resource (e.g. Owner, CostCenter)."
  type        = map(string)
  default     = {}
}

variable "python_executable" {
  description = "Python interpreter (with pip) that builds the Lambda packages during apply."
  type        = string
  default     = "python3"
}

variable "log_retention_days" {
  description = "Retention of every log group, in days."
  type        = number
  default     = 365
}

variable "enable_reserved_concurrency" {
  description = "Reserve each function's concurrency. Set false in accounts whose Lambda concurrency limit is still 10."
  type        = bool
  default     = true
}

variable "manage_apigateway_account" {
  description = "Set API Gateway's account-level CloudWatch role from this stack. One stack per account and region should; false in every other."
  type        = bool
  default     = true
}

variable "access_log_bucket" {
  description = "Existing SSE-S3 bucket receiving the S3 server access logs of the stack's buckets; null for none."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the buckets with their data and the user pool. Keep false where the data matters."
  type        = bool
  default     = false
}

variable "local_model" {
  description = "The local back-end's document classifier: \"tfidf\" (the default; about 1 ms per text) or \"tfidf+embeddings\" (TF-IDF and sentence embeddings: more accurate from the same labels, about 40 ms per text); an iteration input may override it."
  type        = string
  default     = "tfidf"

  validation {
    condition     = contains(["tfidf", "tfidf+embeddings"], var.local_model)
    error_message = "local_model must be \"tfidf\" or \"tfidf+embeddings\"."
  }
}

variable "classifier_mode" {
  description = "Document classifier mode: MULTI_CLASS (one label per text) or MULTI_LABEL."
  type        = string
  default     = "MULTI_CLASS"
}

variable "comprehend_endpoint_inference_units" {
  description = "Inference units of each Comprehend endpoint the first promotion of a model type creates (billed per second while the endpoint exists)."
  type        = number
  default     = 1
}

variable "comprehend_training" {
  description = "How each model type trains on Comprehend: \"versions\" (a new classifier or recogniser version per iteration, on the whole data set) or \"flywheel\" (an iteration of the model type's Comprehend flywheel, given only the iteration's new documents)."
  type        = map(string)
  default     = { DOCUMENT_CLASSIFIER = "versions", ENTITY_RECOGNIZER = "flywheel" }
}

variable "iteration_defaults" {
  description = "Iteration settings (see modules/textloop: min_new_items, review_budget, review_batch_size, ...); a model type's key holds that type's own, e.g. { ENTITY_RECOGNIZER = { review_budget = 30 } }."
  type        = any
  default     = {}
}

variable "iteration_schedules" {
  description = "The schedule that starts each model type's iterations: { <DOCUMENT_CLASSIFIER|ENTITY_RECOGNIZER> = { expression, enabled = true, description } }."
  type = map(object({
    expression  = string
    enabled     = optional(bool, true)
    description = optional(string)
  }))
  # An hour apart: each model type has its own lock, but the reviewers are the same people.
  default = {
    DOCUMENT_CLASSIFIER = { expression = "cron(0 3 * * ? *)", description = "Daily iteration of the document classifier" }
    ENTITY_RECOGNIZER   = { expression = "cron(0 4 * * ? *)", description = "Daily iteration of the entity recogniser" }
  }
}

variable "client_applications" {
  description = "Client applications by id (1-24 lowercase letters, digits, inner hyphens): each gets an API key, a usage plan and an upload role; trusted = true lets its corrections skip review (see modules/textloop)."
  type = map(object({
    trusted           = optional(bool, false)
    rate_limit        = optional(number)
    burst_limit       = optional(number)
    daily_quota       = optional(number)
    upload_principals = optional(list(string), [])
  }))
  default = { app = {} }
}

variable "a2i_workteam_arn" {
  description = "An existing A2I work team to review in (the account's private workforce already exists, or a vendor's); null creates a private workforce and a work team from the stack's user pool."
  type        = string
  default     = null
}

variable "workforce_name" {
  description = "Name of the private workforce created when a2i_workteam_arn is null (one per account and region)."
  type        = string
  default     = "textloop"
}

variable "workforce_cognito_domain" {
  description = "Prefix of the Cognito hosted UI domain (https://<prefix>.auth.<region>.amazoncognito.com) the worker portal signs reviewers in through; unique in the region. Used only when a2i_workteam_arn is null."
  type        = string
  default     = null

  validation {
    condition     = var.workforce_cognito_domain == null || can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.workforce_cognito_domain))
    error_message = "workforce_cognito_domain must be lowercase letters, digits and inner hyphens (up to 63)."
  }
}
