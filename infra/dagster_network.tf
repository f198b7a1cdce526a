# The Dagster VPC: public subnets hold only the ALB and the NAT gateway(s); every ECS task and the database
# live in private subnets without public IPs. S3 traffic (the lake) takes a gateway endpoint, not the NAT.
# Security groups admit each hop from the group of the one before it, never from an address range:
#   clients (var.dagster_ui_allowed_cidrs) -> alb:443 -> webserver:3000
#   webserver, daemon -> code_server:4000 ;  webserver, daemon, run -> db:5432

locals {
  dagster_name     = "${var.name_prefix}-dagster"
  dagster_services = ["webserver", "daemon", "code_server", "run"]
  dagster_azs      = slice(data.aws_availability_zones.available.names, 0, var.dagster_availability_zones)

  # /20 subnets: public ones from the bottom of the VPC block, private ones from its middle.
  dagster_public_subnets  = { for index, az in local.dagster_azs : az => cidrsubnet(var.dagster_vpc_cidr, 4, index) }
  dagster_private_subnets = { for index, az in local.dagster_azs : az => cidrsubnet(var.dagster_vpc_cidr, 4, 8 + index) }
  dagster_nat_azs         = var.dagster_nat_gateway_per_az ? local.dagster_azs : [local.dagster_azs[0]]
}

data "aws_availability_zones" "available" {
  state = "available"
}

resource "aws_vpc" "dagster" {
  cidr_block           = var.dagster_vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = local.dagster_name }
}

# No rule in the default security group: anything launched without a group reaches nothing.
resource "aws_default_security_group" "dagster" {
  vpc_id = aws_vpc.dagster.id
}

resource "aws_internet_gateway" "dagster" {
  vpc_id = aws_vpc.dagster.id

  tags = { Name = local.dagster_name }
}

resource "aws_subnet" "dagster_public" {
  for_each = local.dagster_public_subnets

  vpc_id                  = aws_vpc.dagster.id
  availability_zone       = each.key
  cidr_block              = each.value
  map_public_ip_on_launch = false

  tags = { Name = "${local.dagster_name}-public-${each.key}" }
}

resource "aws_subnet" "dagster_private" {
  for_each = local.dagster_private_subnets

  vpc_id            = aws_vpc.dagster.id
  availability_zone = each.key
  cidr_block        = each.value

  tags = { Name = "${local.dagster_name}-private-${each.key}" }
}

resource "aws_route_table" "dagster_public" {
  vpc_id = aws_vpc.dagster.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.dagster.id
  }

  tags = { Name = "${local.dagster_name}-public" }
}

resource "aws_route_table_association" "dagster_public" {
  for_each = aws_subnet.dagster_public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.dagster_public.id
}

resource "aws_eip" "dagster_nat" {
  for_each = toset(local.dagster_nat_azs)

  domain = "vpc"

  tags = { Name = "${local.dagster_name}-nat-${each.key}" }
}

resource "aws_nat_gateway" "dagster" {
  for_each = toset(local.dagster_nat_azs)

  allocation_id = aws_eip.dagster_nat[each.key].id
  subnet_id     = aws_subnet.dagster_public[each.key].id

  tags = { Name = "${local.dagster_name}-${each.key}" }

  depends_on = [aws_internet_gateway.dagster]
}

# Private subnets leave through their zone's NAT gateway, or the shared one.
resource "aws_route_table" "dagster_private" {
  for_each = local.dagster_private_subnets

  vpc_id = aws_vpc.dagster.id

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.dagster[var.dagster_nat_gateway_per_az ? each.key : local.dagster_azs[0]].id
  }

  tags = { Name = "${local.dagster_name}-private-${each.key}" }
}

resource "aws_route_table_association" "dagster_private" {
  for_each = aws_subnet.dagster_private

  subnet_id      = each.value.id
  route_table_id = aws_route_table.dagster_private[each.key].id
}

# The lake, the reports bucket and ECR's layers (S3) without NAT charges.
resource "aws_vpc_endpoint" "dagster_s3" {
  vpc_id            = aws_vpc.dagster.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [for table in aws_route_table.dagster_private : table.id]

  tags = { Name = "${local.dagster_name}-s3" }
}

# --- security groups --------------------------------------------------------------------------------------

resource "aws_security_group" "dagster" {
  for_each = toset(["alb", "webserver", "daemon", "code_server", "run", "db"])

  name        = "${local.dagster_name}-${replace(each.key, "_", "-")}"
  description = "tickerlake Dagster: ${each.key}"
  vpc_id      = aws_vpc.dagster.id

  tags = { Name = "${local.dagster_name}-${each.key}" }

  lifecycle {
    create_before_destroy = true
  }
}

# Clients reach the ALB only from the allowed networks; port 80 only redirects to 443.
resource "aws_vpc_security_group_ingress_rule" "dagster_alb_https" {
  for_each = toset(var.dagster_ui_allowed_cidrs)

  security_group_id = aws_security_group.dagster["alb"].id
  description       = "UI clients over HTTPS (authenticated by Cognito at the listener)"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "dagster_alb_http" {
  for_each = toset(var.dagster_ui_allowed_cidrs)

  security_group_id = aws_security_group.dagster["alb"].id
  description       = "UI clients over HTTP (redirected to HTTPS)"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "dagster_alb_to_webserver" {
  security_group_id            = aws_security_group.dagster["alb"].id
  description                  = "forward authenticated requests to the webserver"
  referenced_security_group_id = aws_security_group.dagster["webserver"].id
  ip_protocol                  = "tcp"
  from_port                    = 3000
  to_port                      = 3000
}

# authenticate-cognito: the ALB itself calls Cognito's token and user-info endpoints.
resource "aws_vpc_security_group_egress_rule" "dagster_alb_to_cognito" {
  security_group_id = aws_security_group.dagster["alb"].id
  description       = "Cognito token and user-info endpoints"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "dagster_webserver_from_alb" {
  security_group_id            = aws_security_group.dagster["webserver"].id
  description                  = "the ALB only"
  referenced_security_group_id = aws_security_group.dagster["alb"].id
  ip_protocol                  = "tcp"
  from_port                    = 3000
  to_port                      = 3000
}

resource "aws_vpc_security_group_ingress_rule" "dagster_code_server" {
  for_each = toset(["webserver", "daemon"])

  security_group_id            = aws_security_group.dagster["code_server"].id
  description                  = "gRPC from the ${each.key}"
  referenced_security_group_id = aws_security_group.dagster[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = 4000
  to_port                      = 4000
}

resource "aws_vpc_security_group_ingress_rule" "dagster_db" {
  for_each = toset(["webserver", "daemon", "run"])

  security_group_id            = aws_security_group.dagster["db"].id
  description                  = "Postgres from the ${each.key}"
  referenced_security_group_id = aws_security_group.dagster[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

# Tasks call AWS APIs, ECR and (runs) the market-data source over HTTPS through the NAT / S3 endpoint.
resource "aws_vpc_security_group_egress_rule" "dagster_tasks_https" {
  for_each = toset(["webserver", "daemon", "code_server", "run"])

  security_group_id = aws_security_group.dagster[each.key].id
  description       = "HTTPS: AWS APIs, ECR, market data"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "dagster_tasks_to_db" {
  for_each = toset(["webserver", "daemon", "run"])

  security_group_id            = aws_security_group.dagster[each.key].id
  description                  = "Postgres (Dagster storage)"
  referenced_security_group_id = aws_security_group.dagster["db"].id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "dagster_tasks_to_code_server" {
  for_each = toset(["webserver", "daemon"])

  security_group_id            = aws_security_group.dagster[each.key].id
  description                  = "gRPC to the code server"
  referenced_security_group_id = aws_security_group.dagster["code_server"].id
  ip_protocol                  = "tcp"
  from_port                    = 4000
  to_port                      = 4000
}
