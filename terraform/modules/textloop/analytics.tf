################################################################################
# Analysts query the lake: Glue tables over the feedback and annotation files, partition
# projection instead of crawlers (Athena computes the partitions of a query from its dt and
# model_type filters, so a new hour of feedback is queryable as soon as its file lands, and
# nothing lists the lake), and an Athena workgroup whose results stay in the lake, encrypted.
# The tables' columns, partitions and key templates live in analytics/tables.json, which
# `textloop query` reads too (DuckDB over the same files) and tests/unit/test_lake_tables.py
# checks against textloop.domain.layout.
################################################################################

locals {
  lake_tables = jsondecode(file("${path.module}/analytics/tables.json"))
  # Glue and Athena database names: lowercase letters, digits and underscores.
  analytics_database     = replace(lower(local.name), "-", "_")
  analytics_table_names  = var.enable_analytics ? toset(["feedback", "annotations"]) : toset([])
  query_results_location = "s3://${module.data_lake.bucket_name}/${module.data_lake.prefixes["queries"]}"
}

resource "aws_glue_catalog_database" "lake" {
  count = var.enable_analytics ? 1 : 0

  name        = local.analytics_database
  description = "textloop ${var.stage}: the data lake's feedback and annotations (s3://${module.data_lake.bucket_name})"

  tags = local.tags
}

resource "aws_glue_catalog_table" "lake" {
  for_each = local.analytics_table_names

  name          = each.key
  database_name = aws_glue_catalog_database.lake[0].name
  description   = local.lake_tables[each.key].description
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(local.lake_tables[each.key].projection, {
    EXTERNAL             = "TRUE"
    classification       = "json"
    compressionType      = "gzip"
    "projection.enabled" = "true"
    # The template is literal text from tables.json (Terraform does not interpolate a value
    # it reads): Athena fills ${model_type}, ${dt} and ${hour} per projected partition.
    "storage.location.template" = "s3://${module.data_lake.bucket_name}/${local.lake_tables[each.key].location_template}"
  })

  dynamic "partition_keys" {
    for_each = local.lake_tables[each.key].partition_keys

    content {
      name = partition_keys.value.name
      type = partition_keys.value.type
    }
  }

  storage_descriptor {
    location      = "s3://${module.data_lake.bucket_name}/${local.lake_tables[each.key].prefix}"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

    ser_de_info {
      name                  = "json"
      serialization_library = "org.openx.data.jsonserde.JsonSerDe"
      parameters = {
        # A line that is not JSON is a bug in a writer: fail the query, never drop the row.
        "ignore.malformed.json" = "FALSE"
      }
    }

    dynamic "columns" {
      for_each = local.lake_tables[each.key].columns

      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

resource "aws_athena_workgroup" "lake" {
  count = var.enable_analytics ? 1 : 0

  name          = local.name
  description   = "textloop ${var.stage}: queries over the data lake; results under ${local.query_results_location}"
  force_destroy = var.force_destroy

  configuration {
    # Clients cannot send results elsewhere or unencrypted.
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff_per_query

    result_configuration {
      output_location = local.query_results_location

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = module.data_lake.kms_key_arn
      }
    }
  }

  tags = local.tags
}

resource "aws_athena_named_query" "feedback_per_label_per_day" {
  count = var.enable_analytics ? 1 : 0

  name        = "feedback per label per day"
  description = "Feedback records per label, day and model type over the last 30 days: corrected labels where a person gave them, else the prediction."
  workgroup   = aws_athena_workgroup.lake[0].id
  database    = aws_glue_catalog_database.lake[0].name
  query       = file("${path.module}/analytics/feedback_per_label_per_day.sql")
}

# What an analyst needs and nothing more: run queries in this workgroup only, read the two
# tables' definitions and files, write and read the workgroup's results. Attach it to the
# analysts' role or group (it is an output, not a role: who the analysts are is the account's
# business).
data "aws_iam_policy_document" "analyst" {
  count = var.enable_analytics ? 1 : 0

  statement {
    sid = "QueriesInTheWorkgroup"
    actions = [
      "athena:StartQueryExecution",
      "athena:StopQueryExecution",
      "athena:GetQueryExecution",
      "athena:GetQueryResults",
      "athena:GetWorkGroup",
      "athena:ListQueryExecutions",
      "athena:ListNamedQueries",
      "athena:GetNamedQuery",
      "athena:BatchGetNamedQuery",
    ]
    resources = [aws_athena_workgroup.lake[0].arn]
  }

  statement {
    sid     = "TableDefinitions"
    actions = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"]
    resources = concat(
      [
        "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
        "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${local.analytics_database}",
      ],
      [for name in local.analytics_table_names : "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${local.analytics_database}/${name}"],
    )
  }

  statement {
    sid       = "ListTablesAndResults"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = [module.data_lake.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = concat([for name in local.analytics_table_names : "${local.lake_tables[name].prefix}*"], ["${module.data_lake.prefixes["queries"]}*"])
    }
  }

  statement {
    sid       = "ReadTables"
    actions   = ["s3:GetObject"]
    resources = [for name in local.analytics_table_names : "${module.data_lake.bucket_arn}/${local.lake_tables[name].prefix}*"]
  }

  statement {
    sid       = "WriteAndReadResults"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${module.data_lake.bucket_arn}/${module.data_lake.prefixes["queries"]}*"]
  }

  statement {
    sid       = "LakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.data_lake.kms_key_arn]
  }
}
