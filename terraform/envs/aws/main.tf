module "textloop" {
  source = "../../modules/textloop"

  name_prefix = var.name_prefix
  stage       = var.stage

  python_executable = var.python_executable
  build_dir         = "${path.root}/../../../build/terraform"
  build_cache_dir   = var.build_cache_dir

  log_retention_days          = var.log_retention_days
  enable_reserved_concurrency = var.enable_reserved_concurrency
  manage_apigateway_account   = var.manage_apigateway_account
  access_log_bucket           = var.access_log_bucket
  force_destroy               = var.force_destroy

  model_backend                       = var.model_backend
  classifier_mode                     = var.classifier_mode
  local_model                         = var.local_model
  review_backend                      = var.review_backend
  a2i_workteam_arn                    = var.a2i_workteam_arn
  people_sign_in                      = var.people_sign_in
  comprehend_classifier_endpoint_arn  = var.comprehend_classifier_endpoint_arn
  comprehend_recognizer_endpoint_arn  = var.comprehend_recognizer_endpoint_arn
  comprehend_endpoint_inference_units = var.comprehend_endpoint_inference_units
  comprehend_training                 = var.comprehend_training
  threshold_override                  = var.threshold_override
  iteration_defaults                  = var.iteration_defaults
  iteration_schedules                 = var.iteration_schedules
  client_applications                 = var.client_applications

  enable_analytics                      = var.enable_analytics
  athena_bytes_scanned_cutoff_per_query = var.athena_bytes_scanned_cutoff_per_query
}
