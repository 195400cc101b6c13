variable "name_prefix" {
  description = "Prefix of every resource name; names are `<name_prefix>-<stage>-...`."
  type        = string
  default     = "textloop"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name_prefix))
    error_message = "name_prefix must be 2-20 lowercase letters, digits or hyphens, starting with a letter (it ends up in bucket names)."
  }
}

variable "stage" {
  description = "Deployment stage (dev, prod, local...); part of every name and the API stage name."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,9}$", var.stage))
    error_message = "stage must be 1-10 lowercase letters or digits, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource (Project and Stage are always set)."
  type        = map(string)
  default     = {}
}

variable "project_root" {
  description = "Path of the repository root (holding functions/, requirements/, statemachines/); null for the one this module sits in."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of every log group (functions, API access logs, state machines), in days."
  type        = number
  default     = 365
}

variable "function_log_level" {
  description = "POWERTOOLS_LOG_LEVEL of every function."
  type        = string
  default     = "INFO"
}

variable "enable_xray" {
  description = "Trace functions, API and state machines with X-Ray (no effect on LocalStack, harmless there)."
  type        = bool
  default     = true
}

variable "enable_reserved_concurrency" {
  description = "Reserve (and cap) each function's concurrency as set in the composition. Turn off in accounts whose concurrency limit is 10, where nothing can be reserved."
  type        = bool
  default     = true
}

variable "python_executable" {
  description = "Python interpreter (with pip) that builds the layer and function packages."
  type        = string
  default     = "python3"
}

variable "build_dir" {
  description = "Directory the zips are written to; null for `<root module>/build`. Relative paths are resolved from the root module's directory."
  type        = string
  default     = null
}

variable "build_cache_dir" {
  description = "Directory of finished zips shared between clones (e.g. CI's cache); null to use $TEXTLOOP_BUILD_CACHE if set."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the buckets with their objects. Keep false where the data matters."
  type        = bool
  default     = false
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period before a deleted KMS key is destroyed (7-30 days)."
  type        = number
  default     = 30
}

variable "data_lake_noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted data lake object versions are removed."
  type        = number
  default     = 365
}

variable "access_log_bucket" {
  description = "Existing bucket (SSE-S3) that receives S3 server access logs of both buckets; null for none."
  type        = string
  default     = null
}

variable "manage_apigateway_account" {
  description = "Create the IAM role API Gateway needs for CloudWatch logging and set it on the account. It is one setting per account and region: keep it true in exactly one stack per region, false elsewhere."
  type        = bool
  default     = true
}

variable "api_execution_logging_level" {
  description = "API Gateway execution logging level: OFF, ERROR or INFO."
  type        = string
  default     = "ERROR"
}

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second the API stage accepts, all clients together."
  type        = number
  default     = 50
}

variable "api_throttling_burst_limit" {
  description = "Request burst the API stage accepts, all clients together."
  type        = number
  default     = 100
}

variable "client_applications" {
  description = <<-EOT
    The client applications that call POST /classify and POST /feedback and upload batch feedback
    files, by application id (1-24 lowercase letters, digits and inner hyphens: it names the
    records' submitter and the upload prefix uploads/feedback/<model type>/<id>/). Each gets its
    own API key and usage plan (rate_limit, burst_limit, daily_quota: null takes the api_key_*
    defaults) and an upload role that may write only under its own prefix, assumable by
    upload_principals (IAM principal ARNs; empty: principals of this account whose own policies
    allow it). trusted: its explicit corrections go straight into the annotation pool; untrusted
    (the default) corrections are reviewed by a person first.
  EOT
  type = map(object({
    trusted           = optional(bool, false)
    rate_limit        = optional(number)
    burst_limit       = optional(number)
    daily_quota       = optional(number)
    upload_principals = optional(list(string), [])
  }))

  validation {
    condition     = length(var.client_applications) > 0
    error_message = "client_applications must name at least one application: nothing can classify without one."
  }

  # Every function that knows the applications carries them in its environment, which Lambda
  # caps at 4 KB in all (an entry takes about 80 bytes).
  validation {
    condition     = length(var.client_applications) <= 30
    error_message = "At most 30 client_applications: their map travels in the functions' environment (4 KB in all)."
  }

  validation {
    condition     = alltrue([for id in keys(var.client_applications) : can(regex("^[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?$", id))])
    error_message = "client_applications ids must be 1-24 lowercase letters, digits or inner hyphens (textloop.domain.layout.APPLICATION_ID)."
  }
}

variable "api_key_rate_limit" {
  description = "Steady-state requests per second allowed per API key."
  type        = number
  default     = 20
}

variable "api_key_burst_limit" {
  description = "Request burst allowed per API key."
  type        = number
  default     = 40
}

variable "api_key_daily_quota" {
  description = "Requests allowed per API key per day."
  type        = number
  default     = 100000
}

variable "state_machine_include_execution_data" {
  description = "Log state inputs and outputs of state machine executions. They hold user text: keep false outside debugging."
  type        = bool
  default     = false
}

################################################################################
# Inference and feedback
################################################################################

variable "model_backend" {
  description = "Where models are trained and served: \"local\" (scikit-learn artefacts in the data lake, served by the classify function) or \"comprehend\" (Amazon Comprehend custom classifiers and entity recognisers)."
  type        = string
  default     = "local"

  validation {
    condition     = contains(["local", "comprehend"], var.model_backend)
    error_message = "model_backend must be \"local\" or \"comprehend\"."
  }
}

variable "comprehend_training" {
  description = "model_backend = \"comprehend\": how each model type trains, by model type (DOCUMENT_CLASSIFIER, ENTITY_RECOGNIZER): \"versions\" (a new classifier or recogniser version per iteration, on the whole data set; the default) or \"flywheel\" (an iteration of the model type's Comprehend flywheel <name>-classifier or <name>-recognizer, given only the iteration's new documents). Written into iteration_defaults' section of each model type; an execution input may still override it."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for model_type, training in var.comprehend_training : contains(["DOCUMENT_CLASSIFIER", "ENTITY_RECOGNIZER"], model_type) && contains(["versions", "flywheel"], training)])
    error_message = "comprehend_training maps DOCUMENT_CLASSIFIER and/or ENTITY_RECOGNIZER to \"versions\" or \"flywheel\"."
  }
}

variable "local_model" {
  description = "The local back-end's document classifier (model_backend = \"local\"): \"tfidf\" (word TF-IDF + logistic regression; about 1 ms per text; the default) or \"tfidf+embeddings\" (word + character TF-IDF and all-MiniLM-L6-v2 sentence embeddings, logistic regression on top: a few points more accuracy from the same labels, about 40 ms per text on one vCPU and the encoder loaded by every function that predicts). Written into iteration_defaults' DOCUMENT_CLASSIFIER section (the setting local_model); an execution input may still override it. Entity recognisers have one local model, a CRF."
  type        = string
  default     = "tfidf"

  validation {
    condition     = contains(["tfidf", "tfidf+embeddings"], var.local_model)
    error_message = "local_model must be \"tfidf\" or \"tfidf+embeddings\"."
  }
}

variable "sentence_encoder_artefact" {
  description = "Path of the sentence encoder artefact (all-MiniLM-L6-v2, fp16) that `make setup` builds (`python -m textloop_ops.encoder path` prints it); uploaded to the data lake for local_model = \"tfidf+embeddings\". Null: ~/.cache/textloop/encoders/all-MiniLM-L6-v2-float16.zip."
  type        = string
  default     = null
}

variable "classifier_mode" {
  description = "Document classifier mode: MULTI_CLASS (one label per text) or MULTI_LABEL."
  type        = string
  default     = "MULTI_CLASS"

  validation {
    condition     = contains(["MULTI_CLASS", "MULTI_LABEL"], var.classifier_mode)
    error_message = "classifier_mode must be MULTI_CLASS or MULTI_LABEL."
  }
}

variable "comprehend_classifier_endpoint_arn" {
  description = "ARN of the Comprehend endpoint (or flywheel endpoint) that serves the active document classifier; PromoteCandidate updates it. Null: with model_backend = \"comprehend\", the endpoint <name>-classifier, created by the first promotion; with the local back-end, none."
  type        = string
  default     = null
}

variable "comprehend_recognizer_endpoint_arn" {
  description = "ARN of the Comprehend endpoint that serves the active entity recogniser (an entity-recognizer-endpoint); PromoteCandidate updates it. Null: with model_backend = \"comprehend\", the endpoint <name>-recognizer, created by the first promotion; with the local back-end, none."
  type        = string
  default     = null
}

variable "comprehend_endpoint_inference_units" {
  description = "Inference units of the Comprehend endpoint the first promotion creates (each unit is billed per second while the endpoint exists, and serves 100 characters per second)."
  type        = number
  default     = 1

  validation {
    condition     = var.comprehend_endpoint_inference_units >= 1 && floor(var.comprehend_endpoint_inference_units) == var.comprehend_endpoint_inference_units
    error_message = "comprehend_endpoint_inference_units must be a whole number of at least 1."
  }
}

variable "threshold_override" {
  description = "Confidence thresholds that win over the active model's, e.g. { default = 0.6, per_label = { World = 0.7 } } for every model type, or one set per model type: { ENTITY_RECOGNIZER = { per_label = { VERSION = 0.95 } } }. A prediction below its threshold (an entity recogniser's: any entity below its type's) becomes implicit feedback. Null: the model's own (default 0.5; entity recognisers 0.9)."
  type        = any
  default     = null
}

variable "active_model_max_age_seconds" {
  description = "How long the classify function trusts its cached copy of the active-model pointer before re-reading it: a promotion reaches inference within this time."
  type        = number
  default     = 30
}

variable "classify_reserved_concurrency" {
  description = "Reserved concurrency of the classify function (it serves the real-time API). Every request in flight holds one execution environment, for seconds while environments start cold; a request beyond this is throttled and API Gateway answers 5xx. Size it to the peak number of requests in flight at once, not to the mean rate times the warm duration."
  type        = number
  # 10 throttled 32 clients starting together (issue 14's benchmark): 50 covers them with room.
  default = 50
}

################################################################################
# The loop
################################################################################

variable "iteration_defaults" {
  description = "Defaults of every iteration, overridable per execution input: min_new_items, review_budget, review_batch_size, random_share, random_share_half_life (labels after which random_share halves; null keeps it constant), selection_strategy (margin|entropy), near_duplicate_similarity, review_timeout_seconds, approval_timeout_seconds, training_poll_seconds, training_max_polls, test_predictions_poll_seconds, test_predictions_max_polls, promotion_metric, promotion_min_improvement, per_label_tolerance, promotion_min_absolute, manual_approval, test_share, min_docs_per_label, intake_lateness_hours, carry_over_limit, carry_over_max_age_days, rescore_factor (incremental iterations). A key named after a model type holds settings for that type only, over the others, e.g. { review_budget = 50, ENTITY_RECOGNIZER = { review_budget = 30 } }. Checked against a schema when a function starts."
  type        = any
  default     = {}
}

variable "review_backend" {
  description = "Who reviews: \"local\" (the review API and page; tasks in the data lake) or \"a2i\" (Amazon Augmented AI human loops)."
  type        = string
  default     = "local"

  validation {
    condition     = contains(["local", "a2i"], var.review_backend)
    error_message = "review_backend must be \"local\" or \"a2i\"."
  }
}

variable "people_sign_in" {
  description = "Who issues the bearer tokens of reviewers, operators and approvers: \"local\" (a KMS signing key this stack creates; tokens minted by `textloop users token`) or \"cognito\" (a Cognito user pool this stack creates, with the groups reviewers, operators, approvers)."
  type        = string
  default     = "local"

  validation {
    condition     = contains(["local", "cognito"], var.people_sign_in)
    error_message = "people_sign_in must be \"local\" or \"cognito\"."
  }
}

variable "a2i_workteam_arn" {
  description = "Work team that reviews in A2I (review_backend = \"a2i\")."
  type        = string
  default     = null
}

variable "a2i_task_availability_seconds" {
  description = "How long an A2I task waits for a worker before it expires."
  type        = number
  default     = 86400
}

variable "iteration_schedules" {
  description = "EventBridge schedules that start iterations, one per model type (DOCUMENT_CLASSIFIER, ENTITY_RECOGNIZER): expression (e.g. \"rate(1 day)\" or \"cron(0 3 * * ? *)\"), enabled (default true; a disabled rule is kept, ready to be enabled) and an optional description. A model type without an entry is started only through the API."
  type = map(object({
    expression  = string
    enabled     = optional(bool, true)
    description = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for model_type in keys(var.iteration_schedules) : contains(["DOCUMENT_CLASSIFIER", "ENTITY_RECOGNIZER"], model_type)])
    error_message = "iteration_schedules keys must be model types: DOCUMENT_CLASSIFIER or ENTITY_RECOGNIZER."
  }

  validation {
    condition     = alltrue([for schedule in values(var.iteration_schedules) : can(regex("^(rate|cron)\\(.+\\)$", schedule.expression))])
    error_message = "each iteration_schedules expression must be an EventBridge rate(...) or cron(...) expression."
  }
}

variable "registry_deletion_protection" {
  description = "Protect the registry table (lock and promotion history) from deletion."
  type        = bool
  default     = true
}

variable "enable_analytics" {
  description = "Create the lake's Glue tables (feedback, annotations) with partition projection, an Athena workgroup and its named queries (analytics.tf). LocalStack's free edition has neither Glue nor Athena: envs/local turns this off and `textloop query` reads the same files with DuckDB."
  type        = bool
  default     = true
}

variable "athena_bytes_scanned_cutoff_per_query" {
  description = "The Athena workgroup cancels a query that scans more than this many bytes (at least 10 MB): Athena charges per byte scanned, and a query without a dt filter reads the whole lake."
  type        = number
  default     = 107374182400 # 100 GiB

  validation {
    condition     = var.athena_bytes_scanned_cutoff_per_query >= 10485760
    error_message = "Athena's smallest per-query limit is 10 MB (10485760 bytes)."
  }
}

variable "intake_batch_size" {
  description = "Feedback records the write_feedback function receives per batch from the feedback queue (one file per model type and hour of a batch); more than 10 needs intake_batching_window_seconds > 0."
  type        = number
  default     = 1000

  validation {
    condition     = var.intake_batch_size >= 1 && var.intake_batch_size <= 10000
    error_message = "intake_batch_size must be between 1 and 10,000 (the SQS event source mapping's limit)."
  }
}

variable "intake_batching_window_seconds" {
  description = "How long Lambda gathers feedback records before invoking write_feedback (maximum_batching_window_in_seconds): longer gives fewer, bigger files and later arrival in the lake."
  type        = number
  default     = 60

  validation {
    condition     = var.intake_batching_window_seconds >= 0 && var.intake_batching_window_seconds <= 300
    error_message = "intake_batching_window_seconds must be between 0 and 300."
  }
}

variable "intake_max_receive_count" {
  description = "Deliveries of a feedback message before it moves to the dead-letter queue (<name>-feedback-dlq, alarmed)."
  type        = number
  default     = 5
}

variable "intake_retention_seconds" {
  description = "How long a feedback record may wait in the queue (SQS's maximum: 14 days)."
  type        = number
  default     = 1209600
}

variable "intake_max_concurrency" {
  description = "Reserved concurrency of write_feedback and the event source mapping's maximum concurrency."
  type        = number
  default     = 5
}
