# The bot's secrets — the LINE channel secret, the LINE access token and (optionally) the OpenAI key — in
# Secrets Manager. Terraform creates each secret *without a value* (or takes the ARN of an existing one);
# the operator writes the value out of band:
#
#   aws secretsmanager put-secret-value --secret-id <arn> --secret-string file://line-channel-secret.txt
#
# so a value is never in tfvars, a plan or the state. There is deliberately no
# aws_secretsmanager_secret_version here (its secret_string would be stored in the state). The Lambda gets
# only the ARNs (LINE_CHANNEL_SECRET_ARN, LINE_CHANNEL_ACCESS_TOKEN_ARN, OPENAI_API_KEY_ARN) and reads the
# values at cold start (report_app/secrets.py); its role may read exactly these secrets (iam.tf).
#
# Why Secrets Manager rather than SSM SecureString parameters: per-secret ARNs that IAM grants exactly,
# versions with staging labels (AWSCURRENT/AWSPREVIOUS) so a token can be rotated and rolled back, a
# recovery window against deletion by mistake, and no kms:Decrypt grant with the default key. The price is
# $0.40 per secret and month; report_app/secrets.py reads SSM parameter ARNs too, for who prefers those.

locals {
  use_openai = var.enable_llm_narrative || var.openai_api_key_arn != null

  bot_secrets_all = {
    line_channel_secret = {
      variable     = "LINE_CHANNEL_SECRET"
      existing_arn = var.line_channel_secret_arn
      description  = "LINE Messaging API channel secret of the tickerlake bot (verifies webhook signatures)."
    }
    line_channel_access_token = {
      variable     = "LINE_CHANNEL_ACCESS_TOKEN"
      existing_arn = var.line_channel_access_token_arn
      description  = "LINE Messaging API channel access token of the tickerlake bot (sends replies)."
    }
    openai_api_key = {
      variable     = "OPENAI_API_KEY"
      existing_arn = var.openai_api_key_arn
      description  = "OpenAI API key of the tickerlake bot's optional LLM narrative."
    }
  }

  bot_secrets = { for key, secret in local.bot_secrets_all : key => secret if key != "openai_api_key" || local.use_openai }

  # key → ARN, whether created here or given.
  bot_secret_arns = merge(
    { for key, secret in aws_secretsmanager_secret.bot : key => secret.arn },
    { for key, secret in local.bot_secrets : key => secret.existing_arn if secret.existing_arn != null },
  )

  # What the Lambda receives: <VARIABLE>_ARN = the secret's ARN.
  bot_secret_environment = { for key, secret in local.bot_secrets : "${secret.variable}_ARN" => local.bot_secret_arns[key] }
}

resource "aws_secretsmanager_secret" "bot" {
  for_each = { for key, secret in local.bot_secrets : key => secret if secret.existing_arn == null }

  name                    = "${var.name_prefix}/${replace(each.key, "_", "-")}"
  description             = "${each.value.description} Value set out of band: aws secretsmanager put-secret-value."
  kms_key_id              = var.secrets_kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
}
