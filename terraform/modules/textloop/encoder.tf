################################################################################
# The sentence encoder (all-MiniLM-L6-v2) of local_model = "tfidf+embeddings": its artefact,
# built by `make setup` (textloop_ops/encoder.py), in the data lake under its content's sha256
# (textloop.domain.layout.encoder_artefact_key), where the functions that train or predict with
# such a model read it once per process.
#
# Uploaded whatever var.local_model says: an iteration input may ask for the other kind, and a
# model of that kind keeps needing its encoder after the default changes back. It costs one
# 46 MB object (about $0.001 a month in S3 Standard) and one PUT per new build.
################################################################################

locals {
  sentence_encoder_name     = "all-MiniLM-L6-v2"
  sentence_encoder_artefact = coalesce(var.sentence_encoder_artefact, pathexpand("~/.cache/textloop/encoders/${local.sentence_encoder_name}-float16.zip"))
  sentence_encoder_sha256   = filesha256(local.sentence_encoder_artefact)
  sentence_encoder_key      = "${module.data_lake.prefixes["models"]}encoders/${local.sentence_encoder_name}/${local.sentence_encoder_sha256}.zip"
}

resource "aws_s3_object" "sentence_encoder" {
  bucket       = module.data_lake.bucket_name
  key          = local.sentence_encoder_key
  source       = local.sentence_encoder_artefact
  source_hash  = local.sentence_encoder_sha256
  content_type = "application/zip"

  server_side_encryption = "aws:kms"
  kms_key_id             = module.data_lake.kms_key_arn

  tags = local.tags
}
