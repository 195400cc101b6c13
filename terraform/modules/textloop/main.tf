data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  name       = "${var.name_prefix}-${var.stage}"
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

  # Relative paths stay relative (to the root module's directory), so the state does not
  # change when the repository is cloned somewhere else.
  project_root = coalesce(var.project_root, "${path.module}/../../..")
  build_dir    = coalesce(var.build_dir, "${path.root}/build")

  tags = merge({ Project = "textloop", Stage = var.stage }, var.tags)
}

################################################################################
# Stack KMS key: logs, SNS, SQS, Lambda environment, artifacts
################################################################################

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is the key itself; the account-root statement is the AWS default that delegates access control to IAM.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself (see CKV_AWS_109).
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself (see CKV_AWS_109).
  statement {
    sid       = "EnableIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts log groups with the key itself, outside any IAM role; the
  # encryption-context condition limits it to log groups of this account and region.
  statement {
    sid = "CloudWatchLogsEncryptLogGroups"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # Alarm actions publish to the KMS-encrypted notifications topic as the CloudWatch service.
  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "textloop ${var.stage}: logs, notifications, queues, function settings and artifacts"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.kms.json

  tags = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}

################################################################################
# Notifications
################################################################################

resource "aws_sns_topic" "notifications" {
  name              = "${local.name}-notifications"
  kms_master_key_id = aws_kms_key.this.arn

  tags = local.tags
}

################################################################################
# Buckets
################################################################################

module "data_lake" {
  source = "../data_lake"

  # Bucket names are global: the account and region make them unique per deployment.
  bucket_name                        = "${local.name}-data-${local.account_id}-${local.region}"
  force_destroy                      = var.force_destroy
  kms_deletion_window_in_days        = var.kms_deletion_window_in_days
  noncurrent_version_expiration_days = var.data_lake_noncurrent_version_expiration_days
  access_log_bucket                  = var.access_log_bucket

  tags = local.tags
}

module "artifacts" {
  source = "../data_lake"

  bucket_name       = "${local.name}-artifacts-${local.account_id}-${local.region}"
  prefixes          = ["layers", "functions"]
  create_kms_key    = false
  kms_key_arn       = aws_kms_key.this.arn
  force_destroy     = var.force_destroy
  access_log_bucket = var.access_log_bucket
  # Old layer zips are only needed to roll back; a month is plenty.
  noncurrent_version_transition_days = null
  noncurrent_version_expiration_days = 30

  tags = local.tags
}
