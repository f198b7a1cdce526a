# The analysts' workgroup: results encrypted in the reports bucket (athena-results/, expired by the
# lifecycle rule), a per-query scan cutoff as a cost guard, and the settings enforced on every client.
resource "aws_athena_workgroup" "tickerlake" {
  name          = var.name_prefix
  description   = "tickerlake analysts: Athena SQL over the Glue tables of the lake."
  state         = "ENABLED"
  force_destroy = false

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = "s3://${local.reports_bucket}/${local.athena_results_prefix}"
      expected_bucket_owner = local.account_id

      encryption_configuration {
        encryption_option = "SSE_S3"
      }
    }
  }
}
