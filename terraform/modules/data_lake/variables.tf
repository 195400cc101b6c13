variable "bucket_name" {
  description = "Name of the bucket. Bucket names are global: include the account ID and region for real AWS accounts."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits, dots and hyphens."
  }
}

variable "prefixes" {
  description = "Top-level key prefixes the project writes to; returned by the `prefixes` output so callers never spell them twice."
  type        = list(string)
  default     = ["feedback", "reviews", "annotations", "datasets", "models", "audit", "uploads", "flywheels", "queries"]
}

variable "create_kms_key" {
  description = "Whether to create a customer managed KMS key (rotation on) for the bucket. When false, `kms_key_arn` must be set."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "ARN of an existing KMS key for SSE-KMS; used only when `create_kms_key` is false."
  type        = string
  default     = null
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period before a deleted KMS key is destroyed (7-30 days)."
  type        = number
  default     = 30
}

variable "force_destroy" {
  description = "Delete every object version when the bucket is destroyed. Keep false for real data; true suits throw-away stacks such as LocalStack."
  type        = bool
  default     = false
}

variable "noncurrent_version_transition_days" {
  description = "Days after which a noncurrent object version moves to STANDARD_IA; null to keep it in STANDARD."
  type        = number
  default     = 30
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which a noncurrent object version is deleted."
  type        = number
  default     = 365
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which unfinished multipart uploads are aborted (their parts are billed until then)."
  type        = number
  default     = 7
}

variable "access_log_bucket" {
  description = "Name of an existing bucket that receives S3 server access logs; null disables access logging. The target must use SSE-S3, not SSE-KMS."
  type        = string
  default     = null
}

variable "additional_policy_documents" {
  description = "Extra IAM policy documents (JSON) merged into the bucket policy, e.g. to grant a service principal access."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags to add to every resource."
  type        = map(string)
  default     = {}
}
