terraform {
  required_version = ">= 1.5.7"

  # The state file's path is given at init (-backend-config=path=...): `make deploy-local` keeps
  # it in .localstack/ beside the LocalStack it describes, tests in their own temporary folder.
  backend "local" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }
}
