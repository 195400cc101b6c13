variable "name" {
  description = "Name of the Lambda layer; also names the zip and its S3 key."
  type        = string
}

variable "description" {
  description = "Description of the layer; a short hash of the inputs is appended."
  type        = string
  default     = ""
}

variable "source_dirs" {
  description = "Directories whose contents are copied under `prefix` in the zip (e.g. the project's shared Python package root). Relative paths are resolved from the root module's directory."
  type        = list(string)
  default     = []
}

variable "requirements_file" {
  description = "A pip requirements lock file installed under `prefix` for the Lambda platform; null for none. Must pin every dependency (pip runs with --no-deps)."
  type        = string
  default     = null
}

variable "prefix" {
  description = "Directory inside the zip. Lambda adds /opt/python to sys.path for Python layers."
  type        = string
  default     = "python"
}

variable "python_version" {
  description = "Python version the wheels are chosen for (pip --python-version)."
  type        = string
  default     = "3.13"
}

variable "pip_platforms" {
  description = "pip --platform tags the wheels may have. The defaults cover every glibc level up to Amazon Linux 2023's (2.34), which runs python3.13."
  type        = list(string)
  default     = ["manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64"]
}

variable "python_executable" {
  description = "Python interpreter (with pip) that runs package.py and pip; any Python 3.9+."
  type        = string
  default     = "python3"
}

variable "build_dir" {
  description = "Directory the zip is written to; null for `<root module>/build`. Relative paths are resolved from the root module's directory."
  type        = string
  default     = null
}

variable "cache_dir" {
  description = "Directory of finished zips shared between clones (e.g. in CI); null to use $TEXTLOOP_BUILD_CACHE if set, else no cache."
  type        = string
  default     = null
}

variable "s3_bucket" {
  description = "Name of the artifacts bucket the zip is uploaded to."
  type        = string
}

variable "s3_prefix" {
  description = "Key prefix of the uploaded zip; the key is `<s3_prefix><name>/<name>-<hash>.zip`."
  type        = string
  default     = "layers/"
}

variable "s3_kms_key_arn" {
  description = "KMS key ARN to encrypt the uploaded zip with (SSE-KMS); null to use the bucket's default encryption."
  type        = string
  default     = null
}

variable "compatible_runtimes" {
  description = "Runtimes the layer is compatible with."
  type        = list(string)
  default     = ["python3.13"]
}

variable "compatible_architectures" {
  description = "Instruction set architectures the layer is compatible with; must match `pip_platforms`."
  type        = list(string)
  default     = ["x86_64"]
}

variable "license_info" {
  description = "License of the layer's contents (SPDX identifier or URL)."
  type        = string
  default     = null
}

variable "skip_destroy" {
  description = "Keep old layer versions when a new one replaces them (functions still pinned to them keep working)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags to add to the uploaded object."
  type        = map(string)
  default     = {}
}
