# CloudWatch log groups of the Dagster deployment: one per service and one for all run tasks (the daemon's
# run monitoring reads a failed run task's last lines from it into the run's failure event).

resource "aws_cloudwatch_log_group" "dagster" {
  for_each = toset(local.dagster_services)

  name              = "/ecs/${var.name_prefix}-dagster/${each.key}"
  retention_in_days = var.dagster_log_retention_days
}
