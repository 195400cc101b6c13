################################################################################
# People: reviewers, operators, approvers
#
# The people routes (local.people_functions) verify an `Authorization: Bearer <JWT>` in the
# Lambda (textloop.adapters.people), with the groups in its `cognito:groups` claim
# (textloop.domain.identity). Who issues the tokens is var.people_sign_in:
#
# * "local": an asymmetric KMS key this stack creates. Operators mint tokens with kms:Sign
#   under their own credentials (`textloop users token NAME`); the Lambdas may only read its
#   public key. The user directory the CLI keeps is SSM parameters under
#   local.people_directory_prefix (written by the CLI, read by nobody in the stack).
# * "cognito": a Cognito user pool with the three groups; people sign in to its app client.
#   The same pool can back an A2I private workforce (see README, "Security model").
################################################################################

locals {
  people_functions = ["reviews", "approvals", "iterations", "models"]
  people_groups = {
    reviewers = "Review batches: read them and post answers"
    operators = "Iterations (start, list, read) and models (active, history, rollback)"
    approvers = "Approve or reject a promotion waiting for a person"
  }
  use_local_people   = var.people_sign_in == "local"
  use_cognito_people = var.people_sign_in == "cognito"

  people_token_issuer     = "textloop:${local.name}"
  people_token_audience   = "${local.name}-people"
  people_directory_prefix = "/${local.name}/people/"

  # one(): the resource of the issuer not in use has no instance, and its attributes are null.
  people_environment = { for name, value in {
    PEOPLE_TOKEN_KEY_ID   = one(aws_kms_key.people_tokens[*].arn)
    PEOPLE_TOKEN_ISSUER   = local.use_local_people ? local.people_token_issuer : null
    PEOPLE_TOKEN_AUDIENCE = local.use_local_people ? local.people_token_audience : null
    COGNITO_USER_POOL_ID  = one(aws_cognito_user_pool.people[*].id)
    COGNITO_CLIENT_ID     = one(aws_cognito_user_pool_client.people[*].id)
  } : name => value if value != null }
  # Cognito's keys are public (its JWKS URL): only the local key needs a permission.
  people_policy_statements = [
    for arn in aws_kms_key.people_tokens[*].arn :
    { sid = "ReadPeopleTokenPublicKey", actions = ["kms:GetPublicKey"], resources = [arn] }
  ]
}

################################################################################
# Local: the signing key
################################################################################

data "aws_iam_policy_document" "people_tokens" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is the key itself; the account-root statement is the AWS default that delegates access control to IAM.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself (see CKV_AWS_109).
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself (see CKV_AWS_109).
  # IAM decides who may sign (operators) and who may read the public key (the people Lambdas).
  statement {
    sid       = "EnableIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "people_tokens" {
  #checkov:skip=CKV_AWS_7:Asymmetric (SIGN_VERIFY) keys cannot be rotated by KMS; tokens live at most 12 hours, so a new key is a replace of this resource.
  count = local.use_local_people ? 1 : 0

  description              = "textloop ${var.stage}: signs people's bearer tokens (textloop users token)"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "RSA_2048"
  deletion_window_in_days  = var.kms_deletion_window_in_days
  policy                   = data.aws_iam_policy_document.people_tokens.json

  tags = local.tags
}

resource "aws_kms_alias" "people_tokens" {
  count = local.use_local_people ? 1 : 0

  name          = "alias/${local.name}-people-tokens"
  target_key_id = aws_kms_key.people_tokens[0].key_id
}

################################################################################
# AWS: the Cognito user pool, its app client and groups
################################################################################

resource "aws_cognito_user_pool" "people" {
  count = local.use_cognito_people ? 1 : 0

  name                = "${local.name}-people"
  deletion_protection = var.force_destroy ? "INACTIVE" : "ACTIVE"
  mfa_configuration   = "OPTIONAL"

  # People are invited by an administrator (README, "Security model"), never sign themselves up.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  password_policy {
    minimum_length                   = 14
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = false
    temporary_password_validity_days = 3
  }

  software_token_mfa_configuration {
    enabled = true
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  auto_verified_attributes = ["email"]

  tags = local.tags
}

resource "aws_cognito_user_pool_client" "people" {
  count = local.use_cognito_people ? 1 : 0

  name         = "${local.name}-people"
  user_pool_id = aws_cognito_user_pool.people[0].id

  # A public client (the CLI and the review page): no secret. `textloop users token` signs in
  # with the password over TLS to Cognito (USER_PASSWORD_AUTH); SDK-based tools may use SRP.
  generate_secret               = false
  explicit_auth_flows           = ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors = "ENABLED"
  enable_token_revocation       = true

  id_token_validity      = 60
  access_token_validity  = 60
  refresh_token_validity = 12
  token_validity_units {
    id_token      = "minutes"
    access_token  = "minutes"
    refresh_token = "hours"
  }
}

resource "aws_cognito_user_group" "people" {
  for_each = local.use_cognito_people ? local.people_groups : {}

  name         = each.key
  description  = each.value
  user_pool_id = aws_cognito_user_pool.people[0].id
}
