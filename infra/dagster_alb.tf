# The Dagster UI behind an internet-facing ALB that authenticates every request: the HTTPS listener's only
# action is authenticate-cognito followed by forward, so no request reaches the webserver without a signed-in
# Cognito user; port 80 only redirects to 443. Users are invited by an administrator (no self sign-up), with
# MFA by an authenticator app. The webserver's security group admits the ALB's group only (dagster_network.tf).

locals {
  dagster_cognito_domain_prefix = coalesce(var.dagster_cognito_domain_prefix, "${local.dagster_name}-${local.account_id}")
}

resource "aws_cognito_user_pool" "dagster" {
  name                = local.dagster_name
  deletion_protection = "ACTIVE"
  mfa_configuration   = "ON"

  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]

  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  software_token_mfa_configuration {
    enabled = true
  }

  password_policy {
    minimum_length                   = 14
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }
}

resource "aws_cognito_user_pool_domain" "dagster" {
  domain       = local.dagster_cognito_domain_prefix
  user_pool_id = aws_cognito_user_pool.dagster.id
}

# The ALB's OAuth client: authorization-code flow, back to the ALB's fixed callback path.
resource "aws_cognito_user_pool_client" "dagster" {
  name         = "${local.dagster_name}-alb"
  user_pool_id = aws_cognito_user_pool.dagster.id

  generate_secret                      = true
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = ["https://${var.dagster_domain_name}/oauth2/idpresponse"]
  logout_urls                          = ["https://${var.dagster_domain_name}/"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
}

resource "aws_cognito_user" "dagster_admin" {
  for_each = toset(var.dagster_admin_emails)

  user_pool_id             = aws_cognito_user_pool.dagster.id
  username                 = each.value
  desired_delivery_mediums = ["EMAIL"]

  attributes = {
    email          = each.value
    email_verified = true
  }
}

resource "aws_lb" "dagster" {
  name               = local.dagster_name
  load_balancer_type = "application"
  internal           = false
  security_groups    = [aws_security_group.dagster["alb"].id]
  subnets            = [for subnet in aws_subnet.dagster_public : subnet.id]

  drop_invalid_header_fields = true
  idle_timeout               = 120
  enable_deletion_protection = false
}

resource "aws_lb_target_group" "dagster_webserver" {
  name                 = "${local.dagster_name}-web"
  port                 = 3000
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = aws_vpc.dagster.id
  deregistration_delay = 30

  health_check {
    path                = "/server_info"
    matcher             = "200"
    interval            = 30
    timeout             = 10
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "dagster_http" {
  load_balancer_arn = aws_lb.dagster.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "dagster_https" {
  load_balancer_arn = aws_lb.dagster.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.dagster_certificate_arn

  default_action {
    type  = "authenticate-cognito"
    order = 1

    authenticate_cognito {
      user_pool_arn              = aws_cognito_user_pool.dagster.arn
      user_pool_client_id        = aws_cognito_user_pool_client.dagster.id
      user_pool_domain           = aws_cognito_user_pool_domain.dagster.domain
      on_unauthenticated_request = "authenticate"
      scope                      = "openid email"
      session_cookie_name        = "${local.dagster_name}-session"
      session_timeout            = var.dagster_ui_session_hours * 3600
    }
  }

  default_action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.dagster_webserver.arn
  }
}

resource "aws_route53_record" "dagster" {
  count = var.dagster_route53_zone_id == null ? 0 : 1

  zone_id = var.dagster_route53_zone_id
  name    = var.dagster_domain_name
  type    = "A"

  alias {
    name                   = aws_lb.dagster.dns_name
    zone_id                = aws_lb.dagster.zone_id
    evaluate_target_health = true
  }
}
