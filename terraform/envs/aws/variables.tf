variable "region" {
  description = "AWS region to deploy to; Amazon Comprehend custom models must be available there."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "textloop"
}

variable "stage" {
  description = "Deployment stage (dev, prod...); part of every resource name and the API stage."
  type        = string
  default     = "dev"
}

variable "default_tags" {
  description = "Tags the provider adds to every resource (e.g. Owner, CostCenter)."
  type        = map(string)
  default     = {}
}

variable "python_executable" {
  description = "Python interpreter (with pip) that builds the packages."
  type        = string
  default     = "python3"
}

variable "build_cache_dir" {
  description = "Directory of finished zips shared between clones (e.g. CI's cache); null to use $TEXTLOOP_BUILD_CACHE if set."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of every log group, in days."
  type        = number
  default     = 365
}

variable "enable_reserved_concurrency" {
  description = "Reserve each function's concurrency. Set false in new accounts whose concurrency limit is 10."
  type        = bool
  default     = true
}

variable "manage_apigateway_account" {
  description = "Set API Gateway's account-level CloudWatch role from this stack (needed for API logging). One stack per account and region should do it."
  type        = bool
  default     = true
}

variable "access_log_bucket" {
  description = "Existing SSE-S3 bucket for S3 server access logs; null for none."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the buckets and their data."
  type        = bool
  default     = false
}

variable "model_backend" {
  description = "\"comprehend\" (Amazon Comprehend custom classifiers and entity recognisers: trained by CreateDocumentClassifier / CreateEntityRecognizer, evaluated by batch classification / entity detection jobs, served by an endpoint per model type the first promotion creates) or \"local\" (scikit-learn artefacts in the data lake, served by the classify function)."
  type        = string
  default     = "comprehend"
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
  default     = "a2i"
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
  description = "Schedules that start iterations, one per model type: { <DOCUMENT_CLASSIFIER|ENTITY_RECOGNIZER> = { expression, enabled = true, description } }; a model type without one is started only through the API (see modules/textloop)."
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

variable "people_sign_in" {
  description = "Who issues people's bearer tokens: \"cognito\" (a user pool this stack creates) or \"local\" (a KMS signing key; tokens minted by `textloop users token`)."
  type        = string
  default     = "cognito"
}

variable "a2i_workteam_arn" {
  description = "Work team that reviews in A2I (review_backend = \"a2i\")."
  type        = string
  default     = null
}

variable "comprehend_classifier_endpoint_arn" {
  description = "Comprehend endpoint serving the active document classifier (model_backend = \"comprehend\"); PromoteCandidate updates it. Null: the endpoint <name>-classifier, created by the first promotion."
  type        = string
  default     = null
}

variable "comprehend_recognizer_endpoint_arn" {
  description = "Comprehend endpoint serving the active entity recogniser (model_backend = \"comprehend\"); PromoteCandidate updates it. Null: the endpoint <name>-recognizer, created by the first promotion."
  type        = string
  default     = null
}

variable "comprehend_endpoint_inference_units" {
  description = "Inference units of the endpoint the first promotion creates (billed per second while it exists)."
  type        = number
  default     = 1
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

variable "comprehend_training" {
  description = "How each model type trains on Comprehend, by model type: \"versions\" (default) or \"flywheel\" (the model type's Comprehend flywheel, given only each iteration's new documents), e.g. { ENTITY_RECOGNIZER = \"flywheel\" }."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for model_type, training in var.comprehend_training : contains(["DOCUMENT_CLASSIFIER", "ENTITY_RECOGNIZER"], model_type) && contains(["versions", "flywheel"], training)])
    error_message = "comprehend_training maps DOCUMENT_CLASSIFIER and/or ENTITY_RECOGNIZER to \"versions\" or \"flywheel\"."
  }
}

variable "enable_analytics" {
  description = "Glue tables over the lake (partition projection), an Athena workgroup and its named queries; see the module's analytics.tf."
  type        = bool
  default     = true
}

variable "athena_bytes_scanned_cutoff_per_query" {
  description = "The Athena workgroup cancels a query scanning more than this many bytes (Athena charges per byte scanned)."
  type        = number
  default     = 107374182400 # 100 GiB
}
