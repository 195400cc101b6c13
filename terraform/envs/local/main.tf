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
}
