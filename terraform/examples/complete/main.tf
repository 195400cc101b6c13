# textloop as a platform team runs it in production: both model types on Amazon Comprehend,
# reviews by Amazon A2I with a private workforce of the stack's own Cognito user pool, the
# entity recogniser trained through a Comprehend flywheel, and an iteration schedule for each.
# Copy this directory, point `source` below at a pinned copy of the module, add a backend.

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ ManagedBy = "terraform", Environment = var.stage }, var.default_tags)
  }
}

locals {
  # The work team reviews come from: yours when you name one, else the one created below.
  create_workforce = var.a2i_workteam_arn == null
  a2i_workteam_arn = local.create_workforce ? aws_sagemaker_workteam.reviewers[0].arn : var.a2i_workteam_arn
}

################################################################################
# textloop
################################################################################

module "textloop" {
  # In a copy outside this repository: a git source pinned to a tag, e.g.
  # "git::https://example.com/textloop.git//terraform/modules/textloop?ref=v1.2.0".
  source = "../../modules/textloop"

  name_prefix = var.name_prefix
  stage       = var.stage

  # The Lambda zips are built during apply into ./build (the module's default), so a copy
  # builds beside itself.
  python_executable = var.python_executable

  log_retention_days          = var.log_retention_days
  enable_reserved_concurrency = var.enable_reserved_concurrency
  manage_apigateway_account   = var.manage_apigateway_account
  access_log_bucket           = var.access_log_bucket
  force_destroy               = var.force_destroy

  # Both model types train on Comprehend; each gets its endpoint at its first promotion.
  model_backend                       = "comprehend"
  classifier_mode                     = var.classifier_mode
  comprehend_endpoint_inference_units = var.comprehend_endpoint_inference_units
  # The recogniser through a Comprehend flywheel, the classifier as versions (the repository
  # README, "Running on AWS", says when to choose which).
  comprehend_training = var.comprehend_training
  # Used by the local back-end only; carried so switching model_backend keeps the choice.
  local_model = var.local_model

  # Reviews in A2I; people (reviewers, operators, approvers) in the stack's Cognito user pool.
  review_backend   = "a2i"
  people_sign_in   = "cognito"
  a2i_workteam_arn = local.a2i_workteam_arn

  iteration_defaults  = var.iteration_defaults
  iteration_schedules = var.iteration_schedules
  client_applications = var.client_applications
}

################################################################################
# A2I private workforce from the stack's user pool (skipped when a2i_workteam_arn is set)
#
# SageMaker allows one private workforce per account and region: where the account has one,
# set a2i_workteam_arn to a work team of it instead.
################################################################################

# The worker portal signs people in through the pool's hosted UI (the domain below) with this
# confidential client, apart from the public one the CLI and the review page use.
resource "aws_cognito_user_pool_client" "workforce" {
  count = local.create_workforce ? 1 : 0

  name                          = "${var.name_prefix}-${var.stage}-a2i-workforce"
  user_pool_id                  = module.textloop.cognito_user_pool_id
  generate_secret               = true
  prevent_user_existence_errors = "ENABLED"
  enable_token_revocation       = true
  supported_identity_providers  = ["COGNITO"]

  lifecycle {
    # SageMaker writes the worker portal's sign-in settings into the client when it creates the
    # workforce; reverting them would lock the workers out.
    ignore_changes = [callback_urls, logout_urls, allowed_oauth_flows, allowed_oauth_scopes, allowed_oauth_flows_user_pool_client]
  }
}

resource "aws_cognito_user_pool_domain" "workforce" {
  count = local.create_workforce ? 1 : 0

  domain       = var.workforce_cognito_domain
  user_pool_id = module.textloop.cognito_user_pool_id

  lifecycle {
    precondition {
      condition     = var.workforce_cognito_domain != null
      error_message = "Creating the A2I private workforce needs workforce_cognito_domain (or set a2i_workteam_arn to a work team you have)."
    }
  }
}

resource "aws_sagemaker_workforce" "this" {
  count = local.create_workforce ? 1 : 0

  workforce_name = var.workforce_name

  cognito_config {
    client_id = aws_cognito_user_pool_client.workforce[0].id
    user_pool = aws_cognito_user_pool_domain.workforce[0].user_pool_id
  }
}

resource "aws_sagemaker_workteam" "reviewers" {
  count = local.create_workforce ? 1 : 0

  workteam_name  = "${var.name_prefix}-${var.stage}-reviewers"
  workforce_name = aws_sagemaker_workforce.this[0].id
  description    = "textloop ${var.stage}: reviewers of the classifier's and the recogniser's human loops"

  # The pool's reviewers group: the same people who may use the review API.
  member_definition {
    cognito_member_definition {
      client_id  = aws_cognito_user_pool_client.workforce[0].id
      user_pool  = aws_cognito_user_pool_domain.workforce[0].user_pool_id
      user_group = module.textloop.cognito_groups["reviewers"]
    }
  }
}
