output "lake_uri" {
  description = "TICKERLAKE_LAKE_URI of the deployed lake."
  value       = local.lake_uri
}

output "bucket_names" {
  description = "The buckets: lake, reports (cache, PDFs, Athena results), deploy (Lambda package, python-libs/)."
  value       = { for name, bucket in aws_s3_bucket.this : name => bucket.bucket }
}

output "glue_database" {
  description = "TICKERLAKE_GLUE_DATABASE."
  value       = aws_glue_catalog_database.tickerlake.name
}

output "athena_workgroup" {
  description = "Workgroup for `tickerlake sql --athena --workgroup ...` (TICKERLAKE_ATHENA_WORKGROUP)."
  value       = aws_athena_workgroup.tickerlake.name
}

output "athena_results_location" {
  description = "Where the workgroup writes query results."
  value       = "s3://${local.reports_bucket}/${local.athena_results_prefix}"
}

output "report_lambda_name" {
  description = "The report bot Lambda."
  value       = aws_lambda_function.report.function_name
}

output "webhook_url" {
  description = "LINE webhook endpoint: set <url>callback in the LINE console."
  value       = aws_lambda_function_url.report.function_url
}

output "analyst_policy_arn" {
  description = "Attach to analysts' roles: Athena through the workgroup, read-only processed/."
  value       = aws_iam_policy.analyst.arn
}

output "pipeline_policy_arn" {
  description = "Attach to the pipeline's role: writes to raw/, processed/, quarantine/ and catalog sync (alerts: alerts_publish_policy_arn too)."
  value       = aws_iam_policy.pipeline.arn
}

output "lambda_runtime" {
  description = "Python runtime of the report Lambda: build the dependency zip (`tickerlake deploy package-deps`) for this Python."
  value       = aws_lambda_function.report.runtime
}

output "bot_secret_arns" {
  description = "Secrets Manager ARN of each bot secret, by the variable it fills: set each value with `aws secretsmanager put-secret-value --secret-id <arn> --secret-string file://...`."
  value       = { for key, secret in local.bot_secrets : secret.variable => local.bot_secret_arns[key] }
}

output "alerts_topic_arn" {
  description = "The alerts SNS topic (TICKERLAKE_ALERT_SNS_TOPIC of whatever raises alerts: the Lambda, the pipeline)."
  value       = aws_sns_topic.alerts.arn
}

output "alerts_publish_policy_arn" {
  description = "Attach to every role that publishes alerts (the pipeline's Dagster roles): sns:Publish on the topic and its key through SNS."
  value       = aws_iam_policy.alerts_publish.arn
}

output "dashboard_url" {
  description = "The report bot's CloudWatch dashboard."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.report.dashboard_name}"
}
