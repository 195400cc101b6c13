################################################################################
# Client applications: an API key and usage plan each (module.rest_api), the map the functions
# recognise them by, and an upload role each that may write only under its own upload prefix.
################################################################################

locals {
  # CLIENT_APPLICATIONS of the classify, feedback and batch_feedback functions
  # (textloop.domain.applications): API key id -> application id and trust. The key ids come
  # from the keys alone, which depend on nothing the functions feed, so there is no cycle.
  client_applications_json = jsonencode({
    for id, app in var.client_applications : module.rest_api.api_key_ids[id] => {
      application_id = id
      trusted        = app.trusted
    }
  })

  # textloop.domain.layout.feedback_upload_prefixes: one prefix per model type. Listed one by
  # one instead of "uploads/feedback/*/<id>/*": "*" also matches "/", which would let an
  # application write "uploads/feedback/DOCUMENT_CLASSIFIER/<other>/<id>/f.jsonl", an upload of
  # <other>.
  upload_model_types = ["DOCUMENT_CLASSIFIER", "ENTITY_RECOGNIZER"]
  upload_prefixes = {
    for id, app in var.client_applications : id => [
      for model_type in local.upload_model_types :
      "${module.data_lake.prefixes["uploads"]}feedback/${model_type}/${id}/"
    ]
  }
}

data "aws_iam_policy_document" "upload_assume_role" {
  for_each = var.client_applications

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = length(each.value.upload_principals) > 0 ? each.value.upload_principals : ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_iam_role" "upload" {
  for_each = var.client_applications

  name                  = "${local.name}-upload-${each.key}"
  description           = "Uploads batch feedback files of client application ${each.key}, under its own prefix only"
  assume_role_policy    = data.aws_iam_policy_document.upload_assume_role[each.key].json
  force_detach_policies = true

  tags = merge(local.tags, { Application = each.key })
}

data "aws_iam_policy_document" "upload" {
  for_each = var.client_applications

  statement {
    sid       = "PutOwnUploads"
    actions   = ["s3:PutObject"]
    resources = [for prefix in local.upload_prefixes[each.key] : "${module.data_lake.bucket_arn}/${prefix}*"]
  }

  # The errors object beside each upload says which lines were rejected and why.
  statement {
    sid     = "ReadOwnErrorsObjects"
    actions = ["s3:GetObject"]
    resources = [
      for prefix in local.upload_prefixes[each.key] :
      "${module.data_lake.bucket_arn}/${module.data_lake.prefixes["uploads"]}errors/${trimprefix(prefix, module.data_lake.prefixes["uploads"])}*"
    ]
  }

  statement {
    sid       = "ListOwnPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [module.data_lake.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = flatten([
        for prefix in local.upload_prefixes[each.key] : [
          "${prefix}*",
          "${module.data_lake.prefixes["uploads"]}errors/${trimprefix(prefix, module.data_lake.prefixes["uploads"])}*",
        ]
      ])
    }
  }

  statement {
    sid       = "EncryptDecryptViaS3"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [module.data_lake.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "upload" {
  for_each = var.client_applications

  name   = "own-upload-prefix"
  role   = aws_iam_role.upload[each.key].id
  policy = data.aws_iam_policy_document.upload[each.key].json
}
