################################################################################
# Limits of AWS's APIs on the names textloop derives from local.name, checked at plan time.
# AWS would refuse them only at run time: CreateEndpoint runs at the first promotion, after a
# model has trained (tests/unit/test_aws_examples.py reads the limits from botocore's model).
################################################################################

resource "terraform_data" "comprehend_names" {
  count = local.use_comprehend ? 1 : 0

  lifecycle {
    precondition {
      # CreateEndpoint: EndpointName is at most 40 characters.
      condition     = alltrue([for arn in local.comprehend_endpoint_arns : length(reverse(split("/", arn))[0]) <= 40])
      error_message = "Comprehend endpoint names are at most 40 characters: shorten name_prefix and stage (\"<name_prefix>-<stage>-recognizer\" must fit), or pass comprehend_classifier_endpoint_arn / comprehend_recognizer_endpoint_arn."
    }
  }
}
