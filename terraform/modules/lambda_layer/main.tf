locals {
  packager = "${path.module}/package.py"

  # Passed to package.py as well, so the files hashed here at plan time are exactly the files
  # that end up in the zip. RE2 (Terraform) and Python's re read this pattern the same way.
  exclude_regex = "(^|/)(__pycache__|\\.pytest_cache|\\.mypy_cache|\\.ruff_cache|tests)(/|$)|\\.py[co]$|(^|/)[^/]+\\.egg-info(/|$)"

  # The zip does not exist at plan time on a fresh clone, so change detection hashes the
  # inputs instead: every source file, the lock file, the packager and its settings.
  source_files = [
    for dir in var.source_dirs : {
      for file in sort(fileset(dir, "**")) : file => filesha256("${dir}/${file}")
      if length(regexall(local.exclude_regex, file)) == 0
    }
  ]

  input_hash = sha256(jsonencode({
    packager       = filesha256(local.packager)
    requirements   = var.requirements_file == null ? null : filesha256(var.requirements_file)
    sources        = local.source_files
    prefix         = var.prefix
    platforms      = var.pip_platforms
    python_version = var.python_version
  }))

  build_dir    = coalesce(var.build_dir, "${path.root}/build")
  package_name = "${var.name}-${substr(local.input_hash, 0, 32)}.zip"
  package_path = "${local.build_dir}/${local.package_name}"
  s3_key       = "${var.s3_prefix}${var.name}/${local.package_name}"

  packager_args = concat(
    ["--prefix", var.prefix, "--python-version", var.python_version, "--exclude-regex", local.exclude_regex],
    flatten([for dir in var.source_dirs : ["--source", dir]]),
    var.requirements_file == null ? [] : ["--requirements", var.requirements_file],
    flatten([for platform in var.pip_platforms : ["--platform", platform]]),
    var.cache_dir == null ? [] : ["--cache-dir", var.cache_dir],
  )
}

################################################################################
# Build (local) and upload
################################################################################

resource "terraform_data" "package" {
  # The bucket and key are part of the trigger so that anything which would upload the zip
  # again also rebuilds it; otherwise a fresh clone could be asked to upload a file it never built.
  triggers_replace = [local.input_hash, local.package_path, var.s3_bucket, local.s3_key]

  input = local.package_path

  provisioner "local-exec" {
    # An interpreter list passes every argument as-is: no shell, so no quoting of paths.
    interpreter = concat([var.python_executable, local.packager], local.packager_args)
    command     = local.package_path
  }

  lifecycle {
    precondition {
      condition     = length(var.source_dirs) > 0 || var.requirements_file != null
      error_message = "Give at least one source directory or a requirements file."
    }
  }
}

# The layer zip (numpy, scipy, scikit-learn) is far above Lambda's 50 MB direct-upload limit,
# so it goes through S3.
resource "aws_s3_object" "package" {
  bucket      = var.s3_bucket
  key         = local.s3_key
  source      = terraform_data.package.output
  source_hash = local.input_hash

  server_side_encryption = var.s3_kms_key_arn == null ? null : "aws:kms"
  kms_key_id             = var.s3_kms_key_arn

  tags = var.tags
}

################################################################################
# Layer version
################################################################################

resource "aws_lambda_layer_version" "this" {
  layer_name  = var.name
  description = trimspace("${var.description} (inputs ${substr(local.input_hash, 0, 12)})")

  s3_bucket         = aws_s3_object.package.bucket
  s3_key            = aws_s3_object.package.key
  s3_object_version = aws_s3_object.package.version_id
  source_code_hash  = local.input_hash

  compatible_runtimes      = var.compatible_runtimes
  compatible_architectures = var.compatible_architectures
  license_info             = var.license_info
  skip_destroy             = var.skip_destroy

  # Functions move to the new version in the same apply; create it before the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}
