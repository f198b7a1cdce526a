# Least privilege for the Dagster deployment. One execution role (ECS pulls the image, writes the logs,
# injects the database secret) and one task role per service:
#   run          the pipeline itself: the lake policy of iam.tf (raw/, processed/, lineage/, quarantine/,
#                Glue) plus compute logs, the report cache pre-warm and its ops/ records. Never a delete.
#   daemon       launches and watches run tasks of the run task definition only, and may pass only the run
#                task's two roles to ECS.
#   webserver    stops and describes run tasks (cancel), reads compute logs. Runs are queued, not launched,
#                by the webserver (QueuedRunCoordinator), so it has no ecs:RunTask and no iam:PassRole.
#   code_server  nothing: it serves definitions; sensors and schedules get the instance from the daemon.
# Two actions AWS defines without resource-level permissions take Resource "*": ecr:GetAuthorizationToken
# (a registry login) and ecs:DescribeTaskDefinition (the launcher reads the run task definition). Both read.

locals {
  dagster_cluster_arn       = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:cluster/${local.dagster_name}"
  dagster_cluster_tasks_arn = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${local.dagster_name}/*"
  dagster_run_family_arn    = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${local.dagster_name}-run:*"
  dagster_compute_logs_arn  = "${local.reports_arn}/${local.dagster_compute_logs_prefix}/*"
  dagster_task_roles        = toset(["webserver", "daemon", "code_server", "run"])
}

data "aws_iam_policy_document" "dagster_ecs_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

# --- execution role: image, logs, database secret ---------------------------------------------------------

resource "aws_iam_role" "dagster_execution" {
  name               = "${local.dagster_name}-execution"
  description        = "ECS agent for the Dagster tasks: pulls the image, writes logs, injects the database secret."
  assume_role_policy = data.aws_iam_policy_document.dagster_ecs_assume.json
}

data "aws_iam_policy_document" "dagster_execution" {
  statement {
    sid       = "RegistryLogin"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # no resource-level permission exists for this action
  }

  statement {
    sid       = "PullImage"
    effect    = "Allow"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [aws_ecr_repository.dagster.arn]
  }

  statement {
    sid     = "WriteLogs"
    effect  = "Allow"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      "${aws_cloudwatch_log_group.dagster["webserver"].arn}:*",
      "${aws_cloudwatch_log_group.dagster["daemon"].arn}:*",
      "${aws_cloudwatch_log_group.dagster["code_server"].arn}:*",
      "${aws_cloudwatch_log_group.dagster["run"].arn}:*",
    ]
  }

  statement {
    sid       = "ReadDatabaseSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.dagster_db_secret_arn]
  }
}

resource "aws_iam_role_policy" "dagster_execution" {
  name   = "${local.dagster_name}-execution"
  role   = aws_iam_role.dagster_execution.id
  policy = data.aws_iam_policy_document.dagster_execution.json
}

# --- task roles --------------------------------------------------------------------------------------------

resource "aws_iam_role" "dagster_task" {
  for_each = local.dagster_task_roles

  name               = "${local.dagster_name}-${replace(each.key, "_", "-")}"
  description        = "tickerlake Dagster ${each.key} task."
  assume_role_policy = data.aws_iam_policy_document.dagster_ecs_assume.json
}

data "aws_iam_policy_document" "dagster_daemon" {
  statement {
    sid       = "ReadRunTaskDefinition"
    effect    = "Allow"
    actions   = ["ecs:DescribeTaskDefinition"]
    resources = ["*"] # no resource-level permission exists for this action
  }

  statement {
    sid       = "LaunchRunTasks"
    effect    = "Allow"
    actions   = ["ecs:RunTask"]
    resources = [local.dagster_run_family_arn]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.dagster_cluster_arn]
    }
  }

  # RunTask with tags (dagster/run_id, ...) needs ecs:TagResource on the new task, at creation only.
  statement {
    sid       = "TagRunTasksAtLaunch"
    effect    = "Allow"
    actions   = ["ecs:TagResource"]
    resources = [local.dagster_cluster_tasks_arn]

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "WatchAndStopRunTasks"
    effect    = "Allow"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = [local.dagster_cluster_tasks_arn]
  }

  statement {
    sid       = "PassRunTaskRoles"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.dagster_task["run"].arn, aws_iam_role.dagster_execution.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  # Run monitoring copies a failed run task's last log lines into the run's failure event.
  statement {
    sid       = "ReadRunLogs"
    effect    = "Allow"
    actions   = ["logs:GetLogEvents"]
    resources = ["${aws_cloudwatch_log_group.dagster["run"].arn}:*"]
  }
}

data "aws_iam_policy_document" "dagster_webserver" {
  statement {
    sid       = "ReadRunTaskDefinition"
    effect    = "Allow"
    actions   = ["ecs:DescribeTaskDefinition"]
    resources = ["*"] # no resource-level permission exists for this action
  }

  statement {
    sid       = "WatchAndStopRunTasks"
    effect    = "Allow"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = [local.dagster_cluster_tasks_arn]
  }

  statement {
    sid       = "ReadComputeLogs"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = [local.dagster_compute_logs_arn]
  }

  statement {
    sid       = "ListComputeLogs"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.reports_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.dagster_compute_logs_prefix}/*"]
    }
  }
}

# The run task: the pipeline's lake grants come from aws_iam_policy.pipeline (iam.tf), attached below.
data "aws_iam_policy_document" "dagster_run" {
  statement {
    sid       = "WriteComputeLogs"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [local.dagster_compute_logs_arn]
  }

  # The `reports` asset pre-warms the bot's cache and PDFs (report_app.prewarm), overwriting in place.
  statement {
    sid       = "PrewarmReportCache"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:GetObjectTagging"]
    resources = ["${local.reports_arn}/cache/*", "${local.reports_arn}/reports/*"]
  }

  statement {
    sid       = "ListReportCacheAndComputeLogs"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.reports_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["cache/*", "reports/*", "${local.dagster_compute_logs_prefix}/*"]
    }
  }

  # The pre-warm reads which tickers users ask for (cache events) and refreshes the adaptive TTL's snapshot.
  statement {
    sid       = "CacheActivity"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"]
    resources = ["${local.lake_arn}/${local.lake_prefix}ops/cache_events/*", "${local.lake_arn}/${local.lake_prefix}ops/cache_activity/*"]
  }

  statement {
    sid       = "ListCacheActivity"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [local.lake_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.lake_prefix}ops/cache_events/*", "${local.lake_prefix}ops/cache_activity/*"]
    }
  }
}

locals {
  dagster_task_policies = {
    daemon    = data.aws_iam_policy_document.dagster_daemon.json
    webserver = data.aws_iam_policy_document.dagster_webserver.json
    run       = data.aws_iam_policy_document.dagster_run.json
  }
}

resource "aws_iam_role_policy" "dagster_task" {
  for_each = local.dagster_task_policies

  name   = "${local.dagster_name}-${each.key}"
  role   = aws_iam_role.dagster_task[each.key].id
  policy = each.value
}

resource "aws_iam_role_policy_attachment" "dagster_run_pipeline" {
  role       = aws_iam_role.dagster_task["run"].name
  policy_arn = aws_iam_policy.pipeline.arn
}
