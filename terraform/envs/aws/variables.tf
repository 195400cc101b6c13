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
