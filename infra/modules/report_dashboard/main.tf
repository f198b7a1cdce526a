# The report bot's CloudWatch dashboard body, as JSON (jsonencode). A module with no provider: it only
# computes the body, so tests/test_infra_terraform.py evaluates it with `terraform init && terraform apply`
# offline and checks the JSON (every metric is AWS/Lambda or the bot's own namespace).
#
# Widgets: cache answers by tier (EMF: hits per tier, misses), the hit ratio, report latency p50/p95/p99,
# cold starts, error log lines; the function's invocations/errors/throttles and duration against its
# timeout; the state of the alarms.

terraform {
  required_version = ">= 1.6"
}

variable "region" {
  description = "Region of the function and of the metrics."
  type        = string
}

variable "function_name" {
  description = "The report Lambda (the FunctionName dimension of the AWS/Lambda metrics)."
  type        = string
}

variable "timeout_seconds" {
  description = "The function's timeout, drawn on the duration graph."
  type        = number
}

variable "metrics" {
  description = "Names of the bot's EMF metrics (namespace, metric and dimension names; docs/report-bot.md)."
  type = object({
    namespace      = string
    cache_hit      = string
    tier_dimension = string
    tiers          = list(string)
    cache_miss     = string
    report_latency = string
    cold_start     = string
    error_logs     = string
  })
}

variable "alarm_arns" {
  description = "Alarms whose state the dashboard shows."
  type        = list(string)
  default     = []
}

variable "period_seconds" {
  description = "Period of every graph."
  type        = number
  default     = 300
}

locals {
  m   = var.metrics
  ns  = var.metrics.namespace
  fn  = ["FunctionName", var.function_name]
  hit = [for tier in local.m.tiers : "hit_${replace(tier, "/[^A-Za-z0-9_]/", "_")}"]
  # A period without misses (or without one tier's hits) has no data point for it: count it as 0.
  all_hits = join(" + ", [for id in local.hit : "FILL(${id}, 0)"])

  hits = [
    for index, tier in local.m.tiers :
    [local.ns, local.m.cache_hit, local.m.tier_dimension, tier, { id = local.hit[index], label = "hit ${tier}" }]
  ]
  miss = [local.ns, local.m.cache_miss, { id = "miss", label = "miss" }]

  graph = {
    view    = "timeSeries"
    region  = var.region
    period  = var.period_seconds
    stacked = false
  }

  widgets = [
    {
      type = "text", x = 0, y = 0, width = 24, height = 1
      properties = {
        markdown = "**${var.function_name}** — report cache (EMF namespace `${local.ns}`) and the Lambda. Alarms publish to the alerts topic."
      }
    },
    {
      type = "metric", x = 0, y = 1, width = 8, height = 6
      properties = merge(local.graph, {
        title   = "Cache answers by tier"
        stat    = "Sum"
        stacked = true
        metrics = concat(local.hits, [local.miss])
      })
    },
    {
      type = "metric", x = 8, y = 1, width = 8, height = 6
      properties = merge(local.graph, {
        title = "Cache hit ratio (%)"
        stat  = "Sum"
        yAxis = { left = { min = 0, max = 100 } }
        metrics = concat(
          [for row in local.hits : concat(slice(row, 0, 4), [merge(row[4], { visible = false })])],
          [[local.ns, local.m.cache_miss, { id = "miss", visible = false }]],
          [[{
            id         = "ratio"
            label      = "hit ratio"
            expression = "100 * (${local.all_hits}) / (${local.all_hits} + FILL(miss, 0))"
          }]],
        )
      })
    },
    {
      type = "metric", x = 16, y = 1, width = 8, height = 6
      properties = merge(local.graph, {
        title = "Report latency (ms)"
        metrics = [
          for stat in ["p50", "p95", "p99"] : [local.ns, local.m.report_latency, { stat = stat, label = stat }]
        ]
      })
    },
    {
      type = "metric", x = 0, y = 7, width = 8, height = 6
      properties = merge(local.graph, {
        title = "Invocations, errors, throttles"
        stat  = "Sum"
        metrics = [
          for name in ["Invocations", "Errors", "Throttles"] : concat(["AWS/Lambda", name], local.fn, [{ label = name }])
        ]
      })
    },
    {
      type = "metric", x = 8, y = 7, width = 8, height = 6
      properties = merge(local.graph, {
        title = "Duration (ms)"
        metrics = [
          for stat in ["p50", "p95", "Maximum"] : concat(["AWS/Lambda", "Duration"], local.fn, [{ stat = stat, label = stat }])
        ]
        annotations = { horizontal = [{ label = "timeout", value = var.timeout_seconds * 1000 }] }
      })
    },
    {
      type = "metric", x = 16, y = 7, width = 8, height = 6
      properties = merge(local.graph, {
        title = "Cold starts and error log lines"
        stat  = "Sum"
        metrics = [
          [local.ns, local.m.cold_start, { label = "cold starts" }],
          [local.ns, local.m.error_logs, { label = "ERROR log lines" }],
        ]
      })
    },
    {
      type = "alarm", x = 0, y = 13, width = 24, height = 3
      properties = {
        title  = "Alarms (they publish to the alerts topic)"
        alarms = var.alarm_arns
      }
    },
  ]
}

output "body" {
  description = "The dashboard body (JSON) for aws_cloudwatch_dashboard.dashboard_body."
  value       = jsonencode({ widgets = local.widgets })
}
