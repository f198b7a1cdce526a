# Dagster's storage (runs, event logs, schedules and sensors): one RDS PostgreSQL instance in the private
# subnets, encrypted, TLS enforced, reachable only from the webserver, daemon and run security groups.
# The master password is generated and kept by RDS in Secrets Manager (manage_master_user_password): it never
# appears in Terraform's state, and ECS injects it into the containers from the secret (dagster_ecs.tf).
# RDS rotates it every 7 days: see docs/dagster-aws.md, "Secrets and rotation".

resource "aws_db_subnet_group" "dagster" {
  name        = local.dagster_name
  description = "tickerlake Dagster database: private subnets"
  subnet_ids  = [for subnet in aws_subnet.dagster_private : subnet.id]
}

resource "aws_db_parameter_group" "dagster" {
  name_prefix = "${local.dagster_name}-pg${var.dagster_db_engine_version}-"
  family      = "postgres${var.dagster_db_engine_version}"
  description = "tickerlake Dagster database: TLS only, slow statements logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "2000"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "dagster" {
  identifier     = local.dagster_name
  engine         = "postgres"
  engine_version = var.dagster_db_engine_version
  instance_class = var.dagster_db_instance_class

  db_name                     = "dagster"
  username                    = "dagster"
  manage_master_user_password = true

  allocated_storage     = var.dagster_db_allocated_storage_gb
  max_allocated_storage = var.dagster_db_allocated_storage_gb * 5
  storage_type          = "gp3"
  storage_encrypted     = true

  db_subnet_group_name   = aws_db_subnet_group.dagster.name
  vpc_security_group_ids = [aws_security_group.dagster["db"].id]
  publicly_accessible    = false
  multi_az               = var.dagster_db_multi_az
  parameter_group_name   = aws_db_parameter_group.dagster.name

  backup_retention_period    = var.dagster_db_backup_retention_days
  backup_window              = "18:00-19:00" # UTC: after the Asian close, before the daily schedule's US runs
  maintenance_window         = "sun:19:30-sun:20:30"
  auto_minor_version_upgrade = true
  copy_tags_to_snapshot      = true

  deletion_protection       = var.dagster_db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.dagster_name}-final"

  enabled_cloudwatch_logs_exports = ["postgresql"]
}

locals {
  # The RDS-managed secret: a JSON document {"username": ..., "password": ...}.
  dagster_db_secret_arn = aws_db_instance.dagster.master_user_secret[0].secret_arn
}
