data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  kms_key_arn = var.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn

  # Trailing slashes make the prefixes safe to concatenate with object names and to use in
  # IAM resource ARNs ("${bucket_arn}/${prefix}*") without matching "feedbackX/".
  prefixes = { for name in var.prefixes : name => "${trim(name, "/")}/" }
}

################################################################################
# KMS key (only when the caller does not pass one)
################################################################################

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is the key itself; this is the AWS default account-root statement that delegates access control to IAM.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself (see CKV_AWS_109).
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself (see CKV_AWS_109).
  count = var.create_kms_key ? 1 : 0

  # The account-root statement is what lets IAM policies grant use of the key at all; without
  # it only the key policy could, and the key would be unmanageable once its creator is gone.
  statement {
    sid       = "EnableIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "this" {
  count = var.create_kms_key ? 1 : 0

  description             = "Encrypts the objects of s3://${var.bucket_name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.kms[0].json

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  count = var.create_kms_key ? 1 : 0

  name          = "alias/${var.bucket_name}"
  target_key_id = aws_kms_key.this[0].key_id
}

################################################################################
# Bucket
################################################################################

# Access logging is optional (var.access_log_bucket): the log target must be a separate
# SSE-S3 bucket owned by the caller, so it cannot be created here for every bucket.
#trivy:ignore:AVD-AWS-0089
resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost and needs a second region; the lake is rebuilt from its sources and versioning guards against overwrites.
  #checkov:skip=CKV2_AWS_62:Event notifications are wired by the stacks that consume them (e.g. uploads/ to the batch-feedback function), not by this generic bucket module.
  #checkov:skip=CKV_AWS_18:Access logging is optional (var.access_log_bucket); a log target bucket cannot use SSE-KMS nor log to itself, so it is a separate, caller-owned bucket.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy

  tags = merge({ Name = var.bucket_name }, var.tags)
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    # One data key per bucket instead of one KMS call per object: the lake holds many small
    # JSON records, so this cuts KMS requests (and cost) by orders of magnitude.
    bucket_key_enabled = true
  }

  lifecycle {
    precondition {
      condition     = var.create_kms_key || var.kms_key_arn != null
      error_message = "Set kms_key_arn when create_kms_key is false."
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"

    filter {}

    dynamic "noncurrent_version_transition" {
      for_each = var.noncurrent_version_transition_days == null ? [] : [var.noncurrent_version_transition_days]

      content {
        noncurrent_days = noncurrent_version_transition.value
        storage_class   = "STANDARD_IA"
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    # Removes the delete markers left behind once every older version has expired.
    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  # S3 rejects a lifecycle rule with noncurrent-version actions until versioning is on.
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${var.bucket_name}/"
}

################################################################################
# Bucket policy: TLS only; nothing here grants access, IAM policies do
################################################################################

data "aws_iam_policy_document" "bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyOutdatedTls"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  source_policy_documents = var.additional_policy_documents
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket.json

  # With block_public_policy on, S3 evaluates the policy against the block; applying it
  # before the block exists can race with it on a new bucket.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
