provider "aws" {
  region = var.region

  default_tags {
    tags = merge(
      {
        ManagedBy   = "terraform"
        Environment = var.stage
      },
      var.default_tags,
    )
  }
}
