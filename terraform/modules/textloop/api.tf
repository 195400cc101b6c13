################################################################################
# REST API (v1: LocalStack's free tier has no HTTP API v2)
#
# A new route is one entry in local.routes: "METHOD /path" = "<function key>".
################################################################################

locals {
  routes = {
    "GET /health"                      = "health"
    "POST /classify"                   = "classify"
    "POST /feedback"                   = "feedback"
    "POST /iterations"                 = "iterations"
    "GET /iterations"                  = "iterations"
    "GET /iterations/{iteration_id}"   = "iterations"
    "GET /reviews"                     = "reviews"
    "GET /reviews/{batch_id}"          = "reviews"
    "POST /reviews/{batch_id}/answers" = "reviews"
    "POST /approvals/{iteration_id}"   = "approvals"
    "GET /models"                      = "models"
    "GET /models/active"               = "models"
    "POST /models/rollback"            = "models"
  }
}

module "rest_api" {
  source = "../rest_api"

  name        = local.name
  description = "textloop ${var.stage} API"
  stage_name  = var.stage

  routes = {
    for route, function in local.routes : route => {
      function_name = module.lambda_function[function].function_name
      invoke_arn    = module.lambda_function[function].invoke_arn
      # People routes verify a person's bearer token in the Lambda (people.tf), not a client key.
      api_key_required       = !contains(local.people_functions, function)
      use_cognito_authorizer = contains(local.people_functions, function)
    }
  }

  api_keys = {
    for id, app in var.client_applications : id => {
      rate_limit  = app.rate_limit
      burst_limit = app.burst_limit
      quota_limit = app.daily_quota
    }
  }

  xray_tracing_enabled           = var.enable_xray
  execution_logging_level        = var.api_execution_logging_level
  throttling_rate_limit          = var.api_throttling_rate_limit
  throttling_burst_limit         = var.api_throttling_burst_limit
  usage_plan_rate_limit          = var.api_key_rate_limit
  usage_plan_burst_limit         = var.api_key_burst_limit
  usage_plan_quota_limit         = var.api_key_daily_quota
  usage_plan_quota_period        = "DAY"
  create_account_cloudwatch_role = var.manage_apigateway_account
  log_retention_days             = var.log_retention_days
  kms_key_arn                    = aws_kms_key.this.arn
  # Known at plan time (the pool's ARN is not): decides whether the authorizer exists.
  cognito_authorizer = local.use_cognito_people ? { user_pool_arn = one(aws_cognito_user_pool.people[*].arn) } : null

  tags = local.tags
}
