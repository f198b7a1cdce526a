# Three buckets, one map (local.buckets): every bucket gets versioning, default SSE, the public-access
# block and bucket-owner ownership from the same for_each, so none can be created without them.

resource "aws_s3_bucket" "this" {
  for_each = local.buckets

  bucket = each.value
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = false
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# TLS only: a request over plain HTTP is denied on every bucket.
data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.this

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"] # a Deny: every S3 action over plain HTTP is refused
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = data.aws_iam_policy_document.tls_only[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

# The lake: raw/ and processed/ age into Glacier (90 days) and Deep Archive (365 days), as in the seed
# system. Older versions of a partition are its lineage history: they are kept for
# lake_noncurrent_version_days after being superseded, then expire.
resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.this["lake"].id

  dynamic "rule" {
    for_each = toset(["raw", "processed"])

    content {
      id     = "${rule.value}-archive"
      status = "Enabled"

      filter {
        prefix = "${local.lake_prefix}${rule.value}/"
      }

      # Current versions stay instantly readable: a month object is read by every warm-up, backfill and
      # series query for years, and GetObject refuses an object in GLACIER until it is restored.
      transition {
        days          = 90
        storage_class = "STANDARD_IA"
      }

      noncurrent_version_transition {
        noncurrent_days = 90
        storage_class   = "GLACIER"
      }

      noncurrent_version_expiration {
        noncurrent_days = var.lake_noncurrent_version_days
      }

      abort_incomplete_multipart_upload {
        days_after_initiation = 7
      }
    }
  }

  rule {
    id     = "quarantine-expire"
    status = "Enabled"

    filter {
      prefix = "${local.lake_prefix}quarantine/"
    }

    expiration {
      days = 365
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

# Report cache (cache/, 1 day: the TTL is 24 h) and PDFs (reports/, 30 days), as in the seed system, and
# Athena query results. A versioned bucket keeps the overwritten/expired objects as noncurrent versions:
# they expire one day later, so the cache never grows old data.
resource "aws_s3_bucket_lifecycle_configuration" "reports" {
  bucket = aws_s3_bucket.this["reports"].id

  rule {
    id     = "cache-expire"
    status = "Enabled"

    filter {
      prefix = "cache/"
    }

    expiration {
      days = 1
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "reports-expire"
    status = "Enabled"

    filter {
      prefix = "reports/"
    }

    expiration {
      days = 30
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "athena-results-expire"
    status = "Enabled"

    filter {
      prefix = local.athena_results_prefix
    }

    expiration {
      days = var.athena_results_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

# Deploy artifacts: the current package stays; replaced packages are kept 30 days for a rollback.
resource "aws_s3_bucket_lifecycle_configuration" "deploy" {
  bucket = aws_s3_bucket.this["deploy"].id

  rule {
    id     = "old-artifacts-expire"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}
