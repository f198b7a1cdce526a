# The alerts topic: lake/alerts.py publishes one message per incident (quarantine, quality) to the ARN in
# TICKERLAKE_ALERT_SNS_TOPIC, and the CloudWatch alarms of monitoring.tf publish their state changes.
#
# Encryption: a customer managed KMS key, not the AWS managed aws/sns. The aws/sns key policy cannot be
# edited and does not let CloudWatch alarms use the key, so an alarm action on a topic encrypted with it
# fails ("CloudWatch Alarms does not have authorization to access the SNS topic encryption key"). This key
# lets cloudwatch.amazonaws.com encrypt, and the account's IAM policies grant the rest (alerts_publish).

resource "aws_kms_key" "alerts" {
  description             = "${var.name_prefix}: server-side encryption of the alerts SNS topic."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alerts_key.json
}

resource "aws_kms_alias" "alerts" {
  name          = "alias/${var.name_prefix}-alerts"
  target_key_id = aws_kms_key.alerts.key_id
}

# A key policy: "*" as resource means this key.
data "aws_iam_policy_document" "alerts_key" {
  # The default key policy statement: the account's IAM policies decide who may use the key.
  statement {
    sid       = "AccountIamPoliciesGovernTheKey"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishEncrypted"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_sns_topic" "alerts" {
  name              = "${var.name_prefix}-alerts"
  display_name      = "tickerlake alerts"
  kms_master_key_id = aws_kms_key.alerts.arn
}

data "aws_iam_policy_document" "alerts_topic" {
  # Same-account publishers (the Lambda, the pipeline) are allowed by their IAM policies (alerts_publish);
  # the topic policy adds only the alarms of this account.
  statement {
    sid       = "CloudWatchAlarmsOfThisAccount"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:*"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]

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

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts_topic.json
}

resource "aws_sns_topic_subscription" "alert_email" {
  for_each = toset(var.alert_email_addresses)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

# Publishing to the topic: sns:Publish on it and the key use SNS makes on the publisher's behalf. Attached to
# the report Lambda's role below; attach it to the pipeline's (Dagster) roles too — output
# alerts_publish_policy_arn.
data "aws_iam_policy_document" "alerts_publish" {
  statement {
    sid       = "PublishAlerts"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }

  statement {
    sid       = "EncryptAlertsThroughSns"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = [aws_kms_key.alerts.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "alerts_publish" {
  name        = "${var.name_prefix}-alerts-publish"
  description = "Publish tickerlake alerts to the ${aws_sns_topic.alerts.name} topic (TICKERLAKE_ALERT_SNS_TOPIC)."
  policy      = data.aws_iam_policy_document.alerts_publish.json
}

resource "aws_iam_role_policy_attachment" "report_lambda_alerts" {
  role       = aws_iam_role.report_lambda.name
  policy_arn = aws_iam_policy.alerts_publish.arn
}
