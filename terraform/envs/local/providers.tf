# Every service the stack uses (and the ones the next issues add) points at LocalStack; a
# service missing here would silently go to real AWS with the dummy credentials and fail.
provider "aws" {
  #checkov:skip=CKV_AWS_41:"test"/"test" are LocalStack's documented dummy credentials, not secrets; this provider never talks to AWS.
  region     = var.region
  access_key = "test"
  secret_key = "test"

  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true

  endpoints {
    apigateway = var.localstack_endpoint
    cloudwatch = var.localstack_endpoint
    dynamodb   = var.localstack_endpoint
    events     = var.localstack_endpoint
    firehose   = var.localstack_endpoint
    iam        = var.localstack_endpoint
    kms        = var.localstack_endpoint
    lambda     = var.localstack_endpoint
    logs       = var.localstack_endpoint
    s3         = var.localstack_endpoint
    sfn        = var.localstack_endpoint
    sns        = var.localstack_endpoint
    sqs        = var.localstack_endpoint
    ssm        = var.localstack_endpoint
    sts        = var.localstack_endpoint
    xray       = var.localstack_endpoint
  }

  default_tags {
    tags = {
      ManagedBy   = "terraform"
      Environment = "localstack"
    }
  }
}
