# Least privilege: object-level grants on exact prefixes (as the seed system did), list grants limited by
# s3:prefix, no wildcard action, and no "*" resource.

locals {
  lake_arn    = aws_s3_bucket.this["lake"].arn
  reports_arn = aws_s3_bucket.this["reports"].arn
  deploy_arn  = aws_s3_bucket.this["deploy"].arn

  glue_catalog_arn  = "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"
  glue_database_arn = "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${aws_glue_catalog_database.tickerlake.name}"
  glue_tables_arn   = "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.tickerlake.name}/*"
}

# --- the report Lambda ----------------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "report_lambda" {
  name               = "${var.name_prefix}-report-lambda"
  description        = "The report bot Lambda: reads the lake and its secrets, reads/writes the report cache and PDFs, publishes alerts."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "report_lambda" {
  statement {
    sid     = "ReadLake"
    effect  = "Allow"
    actions = ["s3:GetObject"]
    resources = [
      "${local.lake_arn}/${local.lake_prefix}processed/*",
      "${local.lake_arn}/${local.lake_prefix}raw/*",
    ]
  }

  # The lake's S3 listing reads the version listing (each key with its version id).
  statement {
    sid       = "ListLake"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [local.lake_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.lake_prefix}processed/*", "${local.lake_prefix}raw/*"]
    }
  }

  # The cache's event log (report_app/cache_events.py) and the adaptive TTL's activity snapshot.
  statement {
    sid       = "WriteCacheEvents"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:PutObjectTagging"]
    resources = ["${local.lake_arn}/${local.lake_prefix}ops/cache_events/*"]
  }

  statement {
    sid       = "ReadCacheActivity"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake_arn}/${local.lake_prefix}ops/cache_activity/*"]
  }

  # The cache store writes tags with its objects (PutObjectTagging) and drops a stale entry (DeleteObject).
  statement {
    sid       = "ReadWriteReportCache"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"]
    resources = ["${local.reports_arn}/cache/*"]
  }

  statement {
    sid       = "ReadWriteReportPdfs"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"]
    resources = ["${local.reports_arn}/reports/*"]
  }

  # Listing lets a missing cache entry answer 404 instead of 403.
  statement {
    sid       = "ListReportCache"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.reports_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["cache/*", "reports/*"]
    }
  }

  statement {
    sid       = "ReadDependencies"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.deploy_arn}/${local.dependencies_prefix}*"]
  }

  # The bot's secrets (secrets.tf), read once per cold start (report_app/secrets.py): exactly these ARNs.
  statement {
    sid       = "ReadBotSecrets"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(local.bot_secret_arns)
  }

  # Only with a customer managed key on the secrets; the AWS managed aws/secretsmanager needs no grant.
  dynamic "statement" {
    for_each = var.secrets_kms_key_arn == null ? [] : [var.secrets_kms_key_arn]

    content {
      sid       = "DecryptBotSecrets"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "WriteLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.report.arn}:*"]
  }
}

resource "aws_iam_role_policy" "report_lambda" {
  name   = "${var.name_prefix}-report-lambda"
  role   = aws_iam_role.report_lambda.id
  policy = data.aws_iam_policy_document.report_lambda.json
}

# --- analysts: Athena through the workgroup, the Glue tables, processed/ read-only ------------------------

data "aws_iam_policy_document" "analyst" {
  statement {
    sid    = "RunQueriesInWorkgroup"
    effect = "Allow"
    actions = [
      "athena:StartQueryExecution",
      "athena:StopQueryExecution",
      "athena:GetQueryExecution",
      "athena:GetQueryResults",
      "athena:GetQueryResultsStream",
      "athena:GetWorkGroup",
    ]
    resources = [aws_athena_workgroup.tickerlake.arn]
  }

  statement {
    sid       = "ReadCatalog"
    effect    = "Allow"
    actions   = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"]
    resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_tables_arn]
  }

  # processed/ for Athena and `tickerlake sql`; lineage/ for `tickerlake lineage` and the manifests.
  statement {
    sid       = "ReadProcessed"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake_arn}/${local.lake_prefix}processed/*", "${local.lake_arn}/${local.lake_prefix}lineage/*"]
  }

  statement {
    sid       = "ListProcessed"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [local.lake_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.lake_prefix}processed/*", "${local.lake_prefix}lineage/*"]
    }
  }

  statement {
    sid       = "LocateBuckets"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation"]
    resources = [local.lake_arn, local.reports_arn]
  }

  statement {
    sid       = "WriteQueryResults"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${local.reports_arn}/${local.athena_results_prefix}*"]
  }

  statement {
    sid       = "ListQueryResults"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [local.reports_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.athena_results_prefix}*"]
    }
  }
}

resource "aws_iam_policy" "analyst" {
  name        = "${var.name_prefix}-analyst"
  description = "Athena SQL over the tickerlake tables through the ${var.name_prefix} workgroup (read-only lake)."
  policy      = data.aws_iam_policy_document.analyst.json
}

# --- the pipeline (Dagster) and `tickerlake catalog sync`: versioned writes with tags, catalog upkeep ---------

data "aws_iam_policy_document" "pipeline" {
  statement {
    sid    = "ReadWriteLake"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:GetObjectTagging",
      "s3:GetObjectVersionTagging",
      "s3:PutObject",
      "s3:PutObjectTagging",
      "s3:AbortMultipartUpload",
    ]
    resources = [
      "${local.lake_arn}/${local.lake_prefix}raw/*",
      "${local.lake_arn}/${local.lake_prefix}processed/*",
      "${local.lake_arn}/${local.lake_prefix}lineage/*",
      "${local.lake_arn}/${local.lake_prefix}quarantine/*",
    ]
  }

  statement {
    sid       = "ListLake"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [local.lake_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        "${local.lake_prefix}raw/*",
        "${local.lake_prefix}processed/*",
        "${local.lake_prefix}lineage/*",
        "${local.lake_prefix}quarantine/*",
      ]
    }
  }

  statement {
    sid    = "MaintainCatalog"
    effect = "Allow"
    actions = [
      "glue:GetDatabase",
      "glue:CreateDatabase",
      "glue:GetTable",
      "glue:GetTables",
      "glue:CreateTable",
      "glue:UpdateTable",
    ]
    resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_tables_arn]
  }
}

resource "aws_iam_policy" "pipeline" {
  name        = "${var.name_prefix}-pipeline"
  description = "The tickerlake pipeline: versioned, tagged writes to raw/, processed/, lineage/, quarantine/ and Glue catalog sync."
  policy      = data.aws_iam_policy_document.pipeline.json
}
