# CloudWatch: the report bot's dashboard and its alarms, which publish to the alerts topic (alerts.tf).
#
# The bot writes its cache metrics as CloudWatch embedded metric format (EMF) lines to its log; Lambda
# ships them to the log group and CloudWatch extracts the metrics (no PutMetricData call, no extra IAM).
# Their names are the ones below — change them here if docs/report-bot.md names them differently.
locals {
  report_metrics = {
    namespace      = "tickerlake"
    cache_hit      = "CacheHit" # dimension Tier = l1 | l2
    tier_dimension = "Tier"
    tiers          = ["l1", "l2"]
    cache_miss     = "CacheMiss"
    report_latency = "ReportLatencyMs"
    cold_start     = "ColdStart"
    error_logs     = "ErrorLogs" # not EMF: the metric filter below counts ERROR lines of the log
  }

  alarm_period_seconds = 300

  # name → what it watches; every alarm notifies the alerts topic when it fires and when it recovers.
  report_alarms = {
    errors = {
      description         = "The report Lambda failed (an unhandled error, a timeout or a failed cold start)."
      namespace           = "AWS/Lambda"
      metric_name         = "Errors"
      dimensions          = { FunctionName = aws_lambda_function.report.function_name }
      statistic           = "Sum"
      extended_statistic  = null
      threshold           = 1
      evaluation_periods  = 1
      datapoints_to_alarm = 1
    }
    throttles = {
      description         = "The report Lambda was throttled (account or reserved concurrency exhausted)."
      namespace           = "AWS/Lambda"
      metric_name         = "Throttles"
      dimensions          = { FunctionName = aws_lambda_function.report.function_name }
      statistic           = "Sum"
      extended_statistic  = null
      threshold           = 1
      evaluation_periods  = 1
      datapoints_to_alarm = 1
    }
    duration = {
      description         = "The report Lambda's p95 duration is close to its timeout."
      namespace           = "AWS/Lambda"
      metric_name         = "Duration"
      dimensions          = { FunctionName = aws_lambda_function.report.function_name }
      statistic           = null
      extended_statistic  = "p95"
      threshold           = var.lambda_timeout_seconds * 1000 * var.alarm_duration_fraction
      evaluation_periods  = 3
      datapoints_to_alarm = 2
    }
    # Answers the handler turns into 500 (a secret that cannot be read: "bot not configured"; a bug in the
    # app) are not Lambda errors: their ERROR log lines are.
    error_logs = {
      description         = "The report Lambda logged ERROR lines (e.g. bot not configured: a secret could not be read)."
      namespace           = local.report_metrics.namespace
      metric_name         = local.report_metrics.error_logs
      dimensions          = {}
      statistic           = "Sum"
      extended_statistic  = null
      threshold           = 1
      evaluation_periods  = 1
      datapoints_to_alarm = 1
    }
  }
}

# The function logs JSON (logging_config.log_format): its level is a field.
resource "aws_cloudwatch_log_metric_filter" "report_error_logs" {
  name           = "${local.lambda_name}-error-logs"
  log_group_name = aws_cloudwatch_log_group.report.name
  pattern        = "{ ($.level = \"ERROR\") || ($.level = \"CRITICAL\") }"

  metric_transformation {
    namespace     = local.report_metrics.namespace
    name          = local.report_metrics.error_logs
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "report" {
  for_each = local.report_alarms

  alarm_name          = "${local.lambda_name}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended_statistic
  period              = local.alarm_period_seconds
  evaluation_periods  = each.value.evaluation_periods
  datapoints_to_alarm = each.value.datapoints_to_alarm
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]

  depends_on = [aws_sns_topic_policy.alerts, aws_cloudwatch_log_metric_filter.report_error_logs]
}

module "report_dashboard" {
  source = "./modules/report_dashboard"

  region          = local.region
  function_name   = aws_lambda_function.report.function_name
  timeout_seconds = var.lambda_timeout_seconds
  metrics         = local.report_metrics
  alarm_arns      = [for alarm in aws_cloudwatch_metric_alarm.report : alarm.arn]
}

resource "aws_cloudwatch_dashboard" "report" {
  dashboard_name = local.lambda_name
  dashboard_body = module.report_dashboard.body
}
