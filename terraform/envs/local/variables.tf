variable "localstack_endpoint" {
  description = "URL of LocalStack's gateway on the host, e.g. http://127.0.0.1:4566 (see .localstack/endpoint)."
  type        = string

  validation {
    condition     = can(regex("^https?://[^/]+/?$", var.localstack_endpoint))
    error_message = "localstack_endpoint must be a base URL such as http://127.0.0.1:4566."
  }
}

variable "region" {
  description = "Region LocalStack emulates."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "textloop"
}

variable "stage" {
  description = "Stage name; part of every resource name and the API path."
  type        = string
  default     = "local"
}

variable "python_executable" {
  description = "Python interpreter (with pip) that builds the packages."
  type        = string
  default     = "python3"
}

variable "build_cache_dir" {
  description = "Directory of finished zips shared between clones; null to use $TEXTLOOP_BUILD_CACHE if set."
  type        = string
  default     = null
}

variable "enable_xray" {
  description = "Keep tracing settings as on AWS (LocalStack ignores them)."
  type        = bool
  default     = true
}

variable "model_backend" {
  description = "\"local\" (scikit-learn in the data lake) or \"comprehend\" (Amazon Comprehend custom classifiers)."
  type        = string
  default     = "local"
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
  description = "MULTI_CLASS or MULTI_LABEL."
  type        = string
  default     = "MULTI_CLASS"
}

variable "review_backend" {
  description = "\"local\" (the review API and page) or \"a2i\" (Amazon Augmented AI)."
  type        = string
  default     = "local"
}

variable "threshold_override" {
  description = "Confidence thresholds that win over the model's, e.g. { default = 0.6 }, or per model type: { ENTITY_RECOGNIZER = { default = 0.8 } }; null keeps the model's."
  type        = any
  default     = null
}

variable "iteration_defaults" {
  description = "Iteration settings (see modules/textloop: min_new_items, review_budget, review_batch_size, ...); a model type's key holds that type's own, e.g. { ENTITY_RECOGNIZER = { review_budget = 30 } }."
  type        = any
  default     = {}
}

variable "iteration_schedules" {
  description = "Schedules that start iterations, one per model type: { <DOCUMENT_CLASSIFIER|ENTITY_RECOGNIZER> = { expression, enabled = true, description } }; empty: API only (see modules/textloop)."
  type = map(object({
    expression  = string
    enabled     = optional(bool, true)
    description = optional(string)
  }))
  default = {}
}

variable "client_applications" {
  description = "Client applications by id (1-24 lowercase letters, digits, inner hyphens): each gets an API key, a usage plan and an upload role. trusted = true lets its corrections skip review (default false); rate_limit, burst_limit, daily_quota and upload_principals are optional (see modules/textloop)."
  type = map(object({
    trusted           = optional(bool, false)
    rate_limit        = optional(number)
    burst_limit       = optional(number)
    daily_quota       = optional(number)
    upload_principals = optional(list(string), [])
  }))
  default = { demo = {} }
}

