# State is local until a backend is configured. For a shared account, keep it in S3 with
# native locking (Terraform >= 1.10 for use_lockfile; on 1.5-1.9 use a DynamoDB table):
#
# terraform {
#   backend "s3" {
#     bucket       = "my-terraform-state-123456789012-eu-west-1"
#     key          = "textloop/dev/terraform.tfstate"
#     region       = "eu-west-1"
#     encrypt      = true
#     use_lockfile = true
#     # dynamodb_table = "terraform-locks"   # Terraform < 1.10
#   }
# }
