terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      project     = var.name_prefix
      environment = var.environment
      managed-by  = "terraform"
    })
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # One map drives the buckets and every setting all of them must have (versioning, SSE, public-access
  # block, ownership): a bucket added here cannot be created without them.
  buckets = {
    lake    = coalesce(var.lake_bucket_name, "${var.name_prefix}-lake-${local.account_id}")
    reports = coalesce(var.reports_bucket_name, "${var.name_prefix}-reports-${local.account_id}")
    deploy  = coalesce(var.deploy_bucket_name, "${var.name_prefix}-deploy-${local.account_id}")
  }

  lake_bucket    = aws_s3_bucket.this["lake"].bucket
  reports_bucket = aws_s3_bucket.this["reports"].bucket
  deploy_bucket  = aws_s3_bucket.this["deploy"].bucket

  # The lake may live under a prefix of its bucket (TICKERLAKE_LAKE_URI = s3://bucket/prefix).
  lake_prefix = var.lake_prefix
  lake_uri    = var.lake_prefix == "" ? "s3://${local.lake_bucket}" : "s3://${local.lake_bucket}/${trimsuffix(var.lake_prefix, "/")}"

  athena_results_prefix = "athena-results/"
  dependencies_prefix   = "python-libs/"
}
