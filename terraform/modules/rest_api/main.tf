data "aws_partition" "current" {}

locals {
  # "POST /feedback/batch" -> method POST, path "feedback/batch" (the root resource is "").
  routes = {
    for key, route in var.routes : key => merge(route, {
      method = upper(split(" ", key)[0])
      path   = trim(split(" ", key)[1], "/")
    })
  }

  # Every resource path the routes need, parents included: "feedback", "feedback/batch".
  paths = distinct(flatten([
    for route in local.routes : [
      for depth in range(length(split("/", route.path))) :
      join("/", slice(split("/", route.path), 0, depth + 1))
    ] if route.path != ""
  ]))

  # A resource needs its parent's ID, and a resource block cannot refer to its own instances,
  # so resources are created one block per depth. max_path_depth is validated on the variable.
  paths_by_depth = [
    for depth in range(local.max_path_depth) : {
      for path in local.paths : path => {
        part   = element(split("/", path), depth)
        parent = join("/", slice(split("/", path), 0, depth))
      } if length(split("/", path)) == depth + 1
    }
  ]
  max_path_depth = 5

  resource_ids = merge(
    { "" = aws_api_gateway_rest_api.this.root_resource_id },
    { for path, resource in aws_api_gateway_resource.depth_0 : path => resource.id },
    { for path, resource in aws_api_gateway_resource.depth_1 : path => resource.id },
    { for path, resource in aws_api_gateway_resource.depth_2 : path => resource.id },
    { for path, resource in aws_api_gateway_resource.depth_3 : path => resource.id },
    { for path, resource in aws_api_gateway_resource.depth_4 : path => resource.id },
  )

  access_log_format = jsonencode({
    requestId          = "$context.requestId"
    extendedRequestId  = "$context.extendedRequestId"
    requestTime        = "$context.requestTime"
    ip                 = "$context.identity.sourceIp"
    userAgent          = "$context.identity.userAgent"
    apiKeyId           = "$context.identity.apiKeyId"
    httpMethod         = "$context.httpMethod"
    resourcePath       = "$context.resourcePath"
    status             = "$context.status"
    protocol           = "$context.protocol"
    responseLength     = "$context.responseLength"
    responseLatency    = "$context.responseLatency"
    integrationStatus  = "$context.integration.status"
    integrationLatency = "$context.integration.latency"
    integrationError   = "$context.integration.error"
    xrayTraceId        = "$context.xrayTraceId"
  })
}

################################################################################
# REST API and resources
################################################################################

resource "aws_api_gateway_rest_api" "this" {
  name           = var.name
  description    = var.description
  api_key_source = "HEADER"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_resource" "depth_0" {
  for_each = local.paths_by_depth[0]

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = each.value.part
}

resource "aws_api_gateway_resource" "depth_1" {
  for_each = local.paths_by_depth[1]

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.depth_0[each.value.parent].id
  path_part   = each.value.part
}

resource "aws_api_gateway_resource" "depth_2" {
  for_each = local.paths_by_depth[2]

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.depth_1[each.value.parent].id
  path_part   = each.value.part
}

resource "aws_api_gateway_resource" "depth_3" {
  for_each = local.paths_by_depth[3]

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.depth_2[each.value.parent].id
  path_part   = each.value.part
}

resource "aws_api_gateway_resource" "depth_4" {
  for_each = local.paths_by_depth[4]

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.depth_3[each.value.parent].id
  path_part   = each.value.part
}

################################################################################
# Methods, Lambda proxy integrations and invoke permissions
################################################################################

resource "aws_api_gateway_request_validator" "this" {
  rest_api_id                 = aws_api_gateway_rest_api.this.id
  name                        = "${var.name}-validate-parameters"
  validate_request_body       = false
  validate_request_parameters = true
}

# Defence in depth on AWS: API Gateway refuses a request without a valid user-pool token before
# the function runs (LocalStack's free API Gateway does not run authorizers; the functions verify
# the token and its groups in every case).
resource "aws_api_gateway_authorizer" "cognito" {
  count = var.cognito_authorizer == null ? 0 : 1

  name            = "${var.name}-people"
  rest_api_id     = aws_api_gateway_rest_api.this.id
  type            = "COGNITO_USER_POOLS"
  provider_arns   = [var.cognito_authorizer.user_pool_arn]
  identity_source = "method.request.header.Authorization"
}

resource "aws_api_gateway_method" "this" {
  #checkov:skip=CKV2_AWS_70:Client routes authenticate with an API key bound to a usage plan (api_key_required); people routes with a bearer token the function verifies (and, on AWS, the Cognito authorizer).
  for_each = local.routes

  rest_api_id          = aws_api_gateway_rest_api.this.id
  resource_id          = local.resource_ids[each.value.path]
  http_method          = each.value.method
  authorization        = each.value.use_cognito_authorizer && var.cognito_authorizer != null ? "COGNITO_USER_POOLS" : "NONE"
  authorizer_id        = each.value.use_cognito_authorizer && var.cognito_authorizer != null ? aws_api_gateway_authorizer.cognito[0].id : null
  api_key_required     = each.value.api_key_required
  request_validator_id = aws_api_gateway_request_validator.this.id
}

resource "aws_api_gateway_integration" "this" {
  for_each = local.routes

  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_method.this[each.key].resource_id
  http_method             = aws_api_gateway_method.this[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST" # Lambda is always invoked with POST, whatever the route's method.
  uri                     = each.value.invoke_arn
  timeout_milliseconds    = each.value.timeout_milliseconds
}

resource "aws_lambda_permission" "this" {
  for_each = local.routes

  statement_id  = "AllowApiGateway-${replace(each.key, "/[^A-Za-z0-9_-]/", "_")}"
  action        = "lambda:InvokeFunction"
  function_name = each.value.function_name
  principal     = "apigateway.amazonaws.com"
  # Any stage, this method and path only; {param} segments become wildcards.
  source_arn = join("/", [
    aws_api_gateway_rest_api.this.execution_arn,
    "*",
    each.value.method == "ANY" ? "*" : each.value.method,
    replace(each.value.path, "/\\{[^}]+\\}/", "*"),
  ])
}

################################################################################
# Deployment and stage
################################################################################

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  description = "Routes: ${join(", ", sort(keys(local.routes)))}"

  # A deployment is a snapshot: without a new one, changed routes never reach the stage.
  triggers = {
    redeployment = sha1(jsonencode([
      local.routes,
      local.resource_ids,
      [for method in aws_api_gateway_method.this : method.id],
      [for integration in aws_api_gateway_integration.this : [integration.id, integration.uri]],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_api_gateway_integration.this]
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}/${var.stage_name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Response caching costs an hourly fee per stage and would serve stale predictions; every request is answered by the function.
  #checkov:skip=CKV2_AWS_29:No WAF: a web ACL costs a monthly fee and does not exist on LocalStack; the API key, usage-plan quota and stage throttling limit abuse.
  #checkov:skip=CKV2_AWS_51:Client certificates authenticate API Gateway to an HTTP back-end; the only back-end here is Lambda, invoked through IAM.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.stage_name
  xray_tracing_enabled = var.xray_tracing_enabled

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = local.access_log_format
  }

  tags = var.tags

  # API Gateway refuses access logging until the account-level CloudWatch role is set.
  depends_on = [aws_api_gateway_account.this]
}

# No response cache: it costs an hourly fee per stage and would serve stale predictions.
#trivy:ignore:AVD-AWS-0190
resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Caching costs an hourly fee per stage and would return stale predictions and health; every request must reach the function.
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = var.execution_logging_level
    data_trace_enabled     = false # would log full request and response bodies: user text
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
    caching_enabled        = false
  }
}

################################################################################
# API keys and usage plans: one of each per client, so each is throttled on its own
################################################################################

# The keys depend on nothing but their names: callers may hand their ids to the functions the
# routes invoke (which the routes, and so the stage, depend on) without a cycle.
resource "aws_api_gateway_api_key" "this" {
  for_each = var.api_keys

  name        = "${var.name}-${each.key}"
  description = "Key of client ${each.key} for the ${var.stage_name} stage of ${var.name}"
  enabled     = true

  tags = merge(var.tags, { Client = each.key })
}

resource "aws_api_gateway_usage_plan" "this" {
  for_each = var.api_keys

  name        = "${var.name}-${var.stage_name}-${each.key}"
  description = "Throttle and quota of client ${each.key} on the ${var.stage_name} stage of ${var.name}"

  api_stages {
    api_id = aws_api_gateway_rest_api.this.id
    stage  = aws_api_gateway_stage.this.stage_name
  }

  throttle_settings {
    rate_limit  = coalesce(each.value.rate_limit, var.usage_plan_rate_limit)
    burst_limit = coalesce(each.value.burst_limit, var.usage_plan_burst_limit)
  }

  quota_settings {
    limit  = coalesce(each.value.quota_limit, var.usage_plan_quota_limit)
    period = var.usage_plan_quota_period
  }

  tags = merge(var.tags, { Client = each.key })
}

resource "aws_api_gateway_usage_plan_key" "this" {
  for_each = var.api_keys

  key_id        = aws_api_gateway_api_key.this[each.key].id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.this[each.key].id
}

################################################################################
# Account-level CloudWatch role (one per account and region; optional)
################################################################################

data "aws_iam_policy_document" "account_assume_role" {
  count = var.create_account_cloudwatch_role ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "account_cloudwatch" {
  count = var.create_account_cloudwatch_role ? 1 : 0

  name                  = "${var.name}-apigateway-cloudwatch"
  description           = "Lets API Gateway write access and execution logs in this account and region"
  assume_role_policy    = data.aws_iam_policy_document.account_assume_role[0].json
  force_detach_policies = true

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "account_cloudwatch" {
  count = var.create_account_cloudwatch_role ? 1 : 0

  role       = aws_iam_role.account_cloudwatch[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count = var.create_account_cloudwatch_role ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.account_cloudwatch[0].arn

  depends_on = [aws_iam_role_policy_attachment.account_cloudwatch]
}
