# The report bot: a Lambda behind a function URL (the LINE webhook, POST /callback; the app verifies the
# X-Line-Signature of every request, so the URL itself needs no IAM auth). Heavy libraries come from
# python-libs/ of the deploy bucket at cold start (report_app.dependency_loader) into /tmp, whose size is
# lambda_ephemeral_storage_mb. The LINE and OpenAI credentials are not in its environment: only the ARNs of
# their secrets (secrets.tf). Runtime: var.lambda_runtime (python3.12 by default, Amazon Linux 2023).

locals {
  lambda_name = "${var.name_prefix}-report"

  lambda_environment = merge(
    {
      TICKERLAKE_LAKE_URI        = local.lake_uri
      TICKERLAKE_DEPLOYMENT      = "aws"
      TICKERLAKE_GLUE_DATABASE   = aws_glue_catalog_database.tickerlake.name
      CACHE_BACKEND              = var.cache_backend
      CACHE_TTL_HOURS            = tostring(var.cache_ttl_hours)
      CACHE_SQLITE_PATH          = "/tmp/tickerlake/cache.db"
      PDF_BUCKET_NAME            = local.reports_bucket
      PDF_URL_EXPIRATION_HOURS   = tostring(var.pdf_url_expiration_hours)
      DEPENDENCIES_BUCKET        = local.deploy_bucket
      DEPENDENCIES_DIR           = "/tmp/python-libs"
      TICKERLAKE_ALERT_SNS_TOPIC = aws_sns_topic.alerts.arn
    },
    # LINE_CHANNEL_SECRET_ARN, LINE_CHANNEL_ACCESS_TOKEN_ARN and, with the LLM narrative, OPENAI_API_KEY_ARN:
    # the secrets' ARNs, never their values (secrets.tf); report_app/secrets.py reads them at cold start.
    local.bot_secret_environment,
    # Unset: the loader follows the pointer object python-libs/current.json (a rollback is a pointer change).
    var.dependencies_version == "" ? {} : { DEPENDENCIES_VERSION = var.dependencies_version },
  )
}

resource "aws_cloudwatch_log_group" "report" {
  name              = "/aws/lambda/${local.lambda_name}"
  retention_in_days = var.lambda_log_retention_days
}

# The uploaded function zip's current version: a new upload (`tickerlake deploy package-function`) changes
# it, so the next `terraform apply` deploys the new code (the same key alone would not).
data "aws_s3_object" "report_package" {
  bucket = local.deploy_bucket
  key    = var.lambda_package_key
}

resource "aws_lambda_function" "report" {
  function_name = local.lambda_name
  description   = "tickerlake report bot: LINE webhook, reports from precomputed data through the hybrid cache."
  role          = aws_iam_role.report_lambda.arn

  s3_bucket = local.deploy_bucket
  s3_key    = var.lambda_package_key
  # null on an unversioned bucket; the deploy bucket is versioned (s3.tf).
  s3_object_version = data.aws_s3_object.report_package.version_id
  handler           = "report_app.lambda_handler.handler"
  runtime           = var.lambda_runtime

  architectures = ["x86_64"]
  memory_size   = var.lambda_memory_mb
  timeout       = var.lambda_timeout_seconds

  ephemeral_storage {
    size = var.lambda_ephemeral_storage_mb
  }

  environment {
    variables = local.lambda_environment
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.report.name
  }

  depends_on = [
    aws_cloudwatch_log_group.report,
    aws_iam_role_policy.report_lambda,
    aws_iam_role_policy_attachment.report_lambda_alerts,
  ]
}

resource "aws_lambda_function_url" "report" {
  function_name      = aws_lambda_function.report.function_name
  authorization_type = "NONE"
}
