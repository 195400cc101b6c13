module "textloop" {
  source = "../../modules/textloop"

  name_prefix = var.name_prefix
  stage       = var.stage

  python_executable = var.python_executable
  # The repository's build/ is ignored by git; relative, so the state survives a re-clone.
  build_dir       = "${path.root}/../../../build/terraform"
  build_cache_dir = var.build_cache_dir

  enable_xray = var.enable_xray

  # A LocalStack stack is thrown away after each run: nothing to keep on destroy.
  force_destroy               = true
  kms_deletion_window_in_days = 7
  # Executions are inspected while developing; there is no real user text in LocalStack.
  state_machine_include_execution_data = true
  api_execution_logging_level          = "INFO"
  registry_deletion_protection         = false
  # A promotion reaches the classify function within 5 s (30 s on AWS).
  active_model_max_age_seconds = 5
  # Feedback reaches the lake's files within about a second (a minute's batching on AWS), so
  # the tests and the demo wait seconds, not minutes, for what classify queued.
  intake_batch_size              = 100
  intake_batching_window_seconds = 1

  # Amazon Comprehend and A2I are not in LocalStack: the embedded defaults run the whole loop.
  model_backend       = var.model_backend
  classifier_mode     = var.classifier_mode
  local_model         = var.local_model
  review_backend      = var.review_backend
  threshold_override  = var.threshold_override
  iteration_defaults  = var.iteration_defaults
  iteration_schedules = var.iteration_schedules
  client_applications = var.client_applications

  # LocalStack's free edition has neither Glue nor Athena: `textloop query` reads the same
  # files with DuckDB.
  enable_analytics = false
}
