variable "region" {
  description = "AWS region of every resource."
  type        = string
  default     = "ap-southeast-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as ap-southeast-1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (buckets, Lambda, workgroup, policies)."
  type        = string
  default     = "tickerlake"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "environment" {
  description = "Deployment stage, recorded as a tag."
  type        = string
  default     = "prod"

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "lake_bucket_name" {
  description = "Bucket of the lake (raw/, processed/, quarantine/). Default: <name_prefix>-lake-<account id>."
  type        = string
  default     = null

  validation {
    condition     = var.lake_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.lake_bucket_name))
    error_message = "lake_bucket_name must be a valid S3 bucket name (3-63 characters of a-z, 0-9, '.', '-')."
  }
}

variable "reports_bucket_name" {
  description = "Bucket of the report cache and PDFs (cache/, reports/) and Athena results. Default: <name_prefix>-reports-<account id>."
  type        = string
  default     = null

  validation {
    condition     = var.reports_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.reports_bucket_name))
    error_message = "reports_bucket_name must be a valid S3 bucket name (3-63 characters of a-z, 0-9, '.', '-')."
  }
}

variable "deploy_bucket_name" {
  description = "Bucket of the Lambda package and the heavy dependencies zip (python-libs/). Default: <name_prefix>-deploy-<account id>."
  type        = string
  default     = null

  validation {
    condition     = var.deploy_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.deploy_bucket_name))
    error_message = "deploy_bucket_name must be a valid S3 bucket name (3-63 characters of a-z, 0-9, '.', '-')."
  }
}

variable "lake_prefix" {
  description = "Key prefix of the lake inside its bucket: \"\" or a path ending in '/' (e.g. \"tickerlake/\")."
  type        = string
  default     = ""

  validation {
    condition     = var.lake_prefix == "" || can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/$", var.lake_prefix))
    error_message = "lake_prefix must be empty or a relative path ending in '/', without '//' or a leading '/'."
  }
}

variable "lake_noncurrent_version_days" {
  description = "Days an older version of a raw/ or processed/ object (its lineage history) is kept after it was superseded."
  type        = number
  default     = 730

  validation {
    condition     = var.lake_noncurrent_version_days >= 180 && floor(var.lake_noncurrent_version_days) == var.lake_noncurrent_version_days
    error_message = "lake_noncurrent_version_days must be a whole number of days, at least 180 (older versions move to Glacier at 90 days and are billed 90 days there)."
  }
}

variable "athena_results_retention_days" {
  description = "Days Athena query results are kept under athena-results/ of the reports bucket."
  type        = number
  default     = 7

  validation {
    condition     = var.athena_results_retention_days >= 1 && floor(var.athena_results_retention_days) == var.athena_results_retention_days
    error_message = "athena_results_retention_days must be a whole number of days, at least 1."
  }
}

variable "athena_bytes_scanned_cutoff_per_query" {
  description = "Athena cancels a query of the workgroup that scans more than this many bytes (cost guard)."
  type        = number
  default     = 10737418240 # 10 GiB

  validation {
    condition     = var.athena_bytes_scanned_cutoff_per_query >= 10485760
    error_message = "athena_bytes_scanned_cutoff_per_query must be at least 10485760 bytes (10 MB), the Athena minimum."
  }
}

variable "glue_database_name" {
  description = "Glue database of the lake's tables (TICKERLAKE_GLUE_DATABASE)."
  type        = string
  default     = "tickerlake"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.glue_database_name))
    error_message = "glue_database_name must be 1-255 characters of a-z, 0-9 and '_' (Athena lower-cases names)."
  }
}

variable "lambda_package_key" {
  description = "Key of the Lambda deployment zip in the deploy bucket."
  type        = string
  default     = "lambda/report_app.zip"

  validation {
    condition     = can(regex("^[A-Za-z0-9_./-]+\\.zip$", var.lambda_package_key)) && !startswith(var.lambda_package_key, "/")
    error_message = "lambda_package_key must be a relative key ending in .zip."
  }
}

variable "dependencies_version" {
  description = "Version of the heavy dependencies zip (python-libs/<version>/...) the Lambda loads; \"\": the one python-libs/current.json points to."
  type        = string
  default     = ""

  validation {
    condition     = var.dependencies_version == "" || can(regex("^[A-Za-z0-9._-]{1,64}$", var.dependencies_version))
    error_message = "dependencies_version must be empty or 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-'."
  }
}

variable "lambda_memory_mb" {
  description = "Memory of the report Lambda, in MB."
  type        = number
  default     = 1024

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "lambda_timeout_seconds" {
  description = "Timeout of the report Lambda, in seconds (a cold start unpacks the dependencies)."
  type        = number
  default     = 120

  validation {
    condition     = var.lambda_timeout_seconds >= 1 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be between 1 and 900."
  }
}

variable "lambda_ephemeral_storage_mb" {
  description = "Size of the Lambda's /tmp, in MB: the unpacked dependencies (~150 MB) and the SQLite L1 cache live there."
  type        = number
  default     = 1024

  validation {
    condition     = var.lambda_ephemeral_storage_mb >= 512 && var.lambda_ephemeral_storage_mb <= 10240
    error_message = "lambda_ephemeral_storage_mb must be between 512 and 10240 (the Lambda limits)."
  }
}

variable "lambda_log_retention_days" {
  description = "Retention of the Lambda's CloudWatch log group."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.lambda_log_retention_days)
    error_message = "lambda_log_retention_days must be one of the CloudWatch retention values (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "cache_backend" {
  description = "CACHE_BACKEND of the Lambda: hybrid, s3 or sqlite."
  type        = string
  default     = "hybrid"

  validation {
    condition     = contains(["hybrid", "s3", "sqlite"], var.cache_backend)
    error_message = "cache_backend must be one of hybrid, s3, sqlite."
  }
}

variable "cache_ttl_hours" {
  description = "CACHE_TTL_HOURS of the Lambda: the report cache time to live."
  type        = number
  default     = 24

  validation {
    condition     = var.cache_ttl_hours > 0 && var.cache_ttl_hours <= 24
    error_message = "cache_ttl_hours must be in (0, 24]: the cache/ lifecycle rule deletes entries after one day."
  }
}

variable "pdf_url_expiration_hours" {
  description = "PDF_URL_EXPIRATION_HOURS of the Lambda: the presigned URL lifetime."
  type        = number
  default     = 24

  validation {
    condition     = var.pdf_url_expiration_hours > 0 && var.pdf_url_expiration_hours <= 168
    error_message = "pdf_url_expiration_hours must be in (0, 168]: a presigned URL lives at most 7 days."
  }
}

variable "lambda_runtime" {
  description = "Python runtime of the report Lambda (Amazon Linux 2023). The dependency zip (`tickerlake deploy package-deps`) must be built for the same Python."
  type        = string
  default     = "python3.12"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.lambda_runtime)
    error_message = "lambda_runtime must be python3.12 or python3.13 (the current Amazon Linux 2023 Python runtimes)."
  }
}

# --- the bot's secrets (secrets.tf): ARNs only; the values never pass through Terraform ------------------

variable "line_channel_secret_arn" {
  description = "ARN of an existing Secrets Manager secret holding LINE_CHANNEL_SECRET; null: Terraform creates <name_prefix>/line-channel-secret (its value is set out of band)."
  type        = string
  default     = null

  validation {
    condition     = var.line_channel_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$", var.line_channel_secret_arn))
    error_message = "line_channel_secret_arn must be null or the full ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-XXXXXX)."
  }
}

variable "line_channel_access_token_arn" {
  description = "ARN of an existing Secrets Manager secret holding LINE_CHANNEL_ACCESS_TOKEN; null: Terraform creates <name_prefix>/line-channel-access-token."
  type        = string
  default     = null

  validation {
    condition     = var.line_channel_access_token_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$", var.line_channel_access_token_arn))
    error_message = "line_channel_access_token_arn must be null or the full ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-XXXXXX)."
  }
}

variable "enable_llm_narrative" {
  description = "true: the bot reads OPENAI_API_KEY from Secrets Manager (created as <name_prefix>/openai-api-key unless openai_api_key_arn is given) and writes the LLM narrative; false: the built-in narrative."
  type        = bool
  default     = false
}

variable "openai_api_key_arn" {
  description = "ARN of an existing Secrets Manager secret holding OPENAI_API_KEY (turns the LLM narrative on); null: see enable_llm_narrative."
  type        = string
  default     = null

  validation {
    condition     = var.openai_api_key_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$", var.openai_api_key_arn))
    error_message = "openai_api_key_arn must be null or the full ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-XXXXXX)."
  }
}

variable "secrets_kms_key_arn" {
  description = "Customer managed KMS key of the bot's secrets (those created here and those given by ARN); null: the AWS managed key aws/secretsmanager, which needs no grant."
  type        = string
  default     = null

  validation {
    condition     = var.secrets_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}$", var.secrets_kms_key_arn))
    error_message = "secrets_kms_key_arn must be null or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>), not an alias."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted bot secret can still be restored (0: deleted at once, e.g. in a dev account)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30 && floor(var.secret_recovery_window_days) == var.secret_recovery_window_days)
    error_message = "secret_recovery_window_days must be 0 or a whole number from 7 to 30 (the Secrets Manager limits)."
  }
}

# --- alerts and monitoring (alerts.tf, monitoring.tf) ---------------------------------------------------

variable "alert_email_addresses" {
  description = "E-mail addresses subscribed to the alerts topic (each must confirm the subscription AWS mails it); []: none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.alert_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", address))])
    error_message = "alert_email_addresses must hold e-mail addresses (name@example.com)."
  }
}

variable "alarm_duration_fraction" {
  description = "The duration alarm fires when the report Lambda's p95 duration exceeds this fraction of its timeout."
  type        = number
  default     = 0.8

  validation {
    condition     = var.alarm_duration_fraction > 0 && var.alarm_duration_fraction < 1
    error_message = "alarm_duration_fraction must be in (0, 1)."
  }
}
