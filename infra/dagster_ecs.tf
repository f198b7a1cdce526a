# Dagster on ECS Fargate: three long-running services (webserver, daemon, code-location server) and one run
# task definition the daemon's EcsRunLauncher starts once per Dagster run. One image (the repository's
# Dockerfile, pushed to the ECR repository below) for all four; the container command picks the role.
# The instance configuration is deploy/dagster/dagster.yaml; these task definitions give it its environment.

locals {
  dagster_image = "${aws_ecr_repository.dagster.repository_url}:${var.dagster_image_tag}"

  dagster_home                = "/opt/dagster/dagster_home"
  dagster_code_server_port    = 4000
  dagster_webserver_port      = 3000
  dagster_compute_logs_bucket = local.reports_bucket
  dagster_compute_logs_prefix = "dagster/compute-logs"

  # Every container: the lake, the reports bucket, the instance's network for run tasks (entrypoint.py).
  dagster_base_environment = {
    AWS_REGION                  = local.region
    AWS_DEFAULT_REGION          = local.region
    TICKERLAKE_LAKE_URI         = local.lake_uri
    TICKERLAKE_DEPLOYMENT       = "aws"
    TICKERLAKE_GLUE_DATABASE    = aws_glue_catalog_database.tickerlake.name
    PDF_BUCKET_NAME             = local.reports_bucket
    DAGSTER_HOME                = local.dagster_home
    DAGSTER_PG_HOST             = aws_db_instance.dagster.address
    DAGSTER_PG_PORT             = tostring(aws_db_instance.dagster.port)
    DAGSTER_PG_DB               = aws_db_instance.dagster.db_name
    DAGSTER_ECS_CLUSTER         = aws_ecs_cluster.dagster.name
    DAGSTER_RUN_SUBNETS         = join(",", [for subnet in aws_subnet.dagster_private : subnet.id])
    DAGSTER_RUN_SECURITY_GROUPS = aws_security_group.dagster["run"].id
    DAGSTER_MAX_CONCURRENT_RUNS = tostring(var.dagster_max_concurrent_runs)
    DAGSTER_COMPUTE_LOGS_BUCKET = local.dagster_compute_logs_bucket
    DAGSTER_COMPUTE_LOGS_PREFIX = local.dagster_compute_logs_prefix
  }

  # The webserver and the daemon also load the workspace and construct the run launcher.
  dagster_launcher_environment = merge(local.dagster_base_environment, {
    DAGSTER_RUN_TASK_DEFINITION = aws_ecs_task_definition.dagster_run.arn
    DAGSTER_CODE_SERVER_HOST    = "${aws_service_discovery_service.dagster_code_server.name}.${aws_service_discovery_private_dns_namespace.dagster.name}"
    DAGSTER_CODE_SERVER_PORT    = tostring(local.dagster_code_server_port)
  })

  # Injected by ECS from the RDS-managed secret at task start; never in a task definition or the state.
  dagster_db_secrets = [
    { name = "DAGSTER_PG_USERNAME", valueFrom = "${local.dagster_db_secret_arn}:username::" },
    { name = "DAGSTER_PG_PASSWORD", valueFrom = "${local.dagster_db_secret_arn}:password::" },
  ]

  dagster_containers = {
    webserver = {
      command     = ["dagster-webserver", "-h", "0.0.0.0", "-p", tostring(local.dagster_webserver_port), "-w", "${local.dagster_home}/workspace.yaml"]
      environment = local.dagster_launcher_environment
      secrets     = local.dagster_db_secrets
      ports       = [local.dagster_webserver_port]
    }
    daemon = {
      command     = ["dagster-daemon", "run", "-w", "${local.dagster_home}/workspace.yaml"]
      environment = local.dagster_launcher_environment
      secrets     = local.dagster_db_secrets
      ports       = []
    }
    code_server = {
      command = ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", tostring(local.dagster_code_server_port),
      "-m", "dagster_project.definitions", "--location-name", "dagster_project.definitions"]
      environment = merge(local.dagster_base_environment, { DAGSTER_CODE_SERVER_PORT = tostring(local.dagster_code_server_port) })
      secrets     = [] # the code server never opens the Dagster database
      ports       = [local.dagster_code_server_port]
    }
  }

  dagster_health_service = { webserver = "webserver", daemon = "daemon", code_server = "code-server", run = "run" }
}

resource "aws_ecr_repository" "dagster" {
  name                 = local.dagster_name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = false

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "AES256"
  }
}

# Keep the last 30 images (rollback targets); untagged layers go after a day.
resource "aws_ecr_lifecycle_policy" "dagster" {
  repository = aws_ecr_repository.dagster.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "drop untagged images after a day"
        selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 1 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "keep the 30 newest images"
        selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 30 }
        action       = { type = "expire" }
      },
    ]
  })
}

resource "aws_ecs_cluster" "dagster" {
  name = local.dagster_name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "dagster" {
  cluster_name       = aws_ecs_cluster.dagster.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

# The code server's DNS name inside the VPC: code-server.<name>-dagster.local.
resource "aws_service_discovery_private_dns_namespace" "dagster" {
  name        = "${local.dagster_name}.local"
  description = "tickerlake Dagster services"
  vpc         = aws_vpc.dagster.id
}

resource "aws_service_discovery_service" "dagster_code_server" {
  name = "code-server"

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.dagster.id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }
}

resource "aws_ecs_task_definition" "dagster" {
  for_each = local.dagster_containers

  family                   = "${local.dagster_name}-${replace(each.key, "_", "-")}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.dagster_task_sizes[each.key].cpu)
  memory                   = tostring(var.dagster_task_sizes[each.key].memory)
  execution_role_arn       = aws_iam_role.dagster_execution.arn
  task_role_arn            = aws_iam_role.dagster_task[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([
    {
      name         = replace(each.key, "_", "-")
      image        = local.dagster_image
      essential    = true
      command      = each.value.command
      environment  = [for name, value in merge(each.value.environment, { DAGSTER_SERVICE = local.dagster_health_service[each.key] }) : { name = name, value = value }]
      secrets      = each.value.secrets
      portMappings = [for port in each.value.ports : { containerPort = port, protocol = "tcp" }]
      healthCheck = {
        command     = ["CMD", "python", "/opt/dagster/bin/healthcheck.py", local.dagster_health_service[each.key]]
        interval    = 30
        timeout     = 30
        retries     = 3
        startPeriod = 120
      }
      stopTimeout = 60
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.dagster[each.key].name
          awslogs-region        = local.region
          awslogs-stream-prefix = replace(each.key, "_", "-")
        }
      }
    }
  ])
}

# One Fargate task per Dagster run (EcsRunLauncher, task_definition: DAGSTER_RUN_TASK_DEFINITION). The
# container is named "run" (dagster.yaml's container_name); the launcher overrides only its command.
resource "aws_ecs_task_definition" "dagster_run" {
  family                   = "${local.dagster_name}-run"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.dagster_task_sizes["run"].cpu)
  memory                   = tostring(var.dagster_task_sizes["run"].memory)
  execution_role_arn       = aws_iam_role.dagster_execution.arn
  task_role_arn            = aws_iam_role.dagster_task["run"].arn

  ephemeral_storage {
    size_in_gib = 40
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([
    {
      name        = "run"
      image       = local.dagster_image
      essential   = true
      environment = [for name, value in merge(local.dagster_base_environment, { DAGSTER_SERVICE = "run" }) : { name = name, value = value }]
      secrets     = local.dagster_db_secrets
      stopTimeout = 120
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.dagster["run"].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "run"
        }
      }
    }
  ])
}

resource "aws_ecs_service" "dagster" {
  for_each = local.dagster_containers

  name            = replace(each.key, "_", "-")
  cluster         = aws_ecs_cluster.dagster.id
  task_definition = aws_ecs_task_definition.dagster[each.key].arn
  launch_type     = "FARGATE"
  # One daemon, always: two daemons would both launch the queue's runs.
  desired_count = 1
  # The daemon is replaced stop-first, never two at once; the others start the new task before stopping the old.
  deployment_minimum_healthy_percent = each.key == "daemon" ? 0 : 100
  deployment_maximum_percent         = each.key == "daemon" ? 100 : 200
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"
  health_check_grace_period_seconds  = each.key == "webserver" ? 180 : null

  network_configuration {
    subnets          = [for subnet in aws_subnet.dagster_private : subnet.id]
    security_groups  = [aws_security_group.dagster[each.key].id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  dynamic "load_balancer" {
    for_each = each.key == "webserver" ? [1] : []

    content {
      target_group_arn = aws_lb_target_group.dagster_webserver.arn
      container_name   = "webserver"
      container_port   = local.dagster_webserver_port
    }
  }

  dynamic "service_registries" {
    for_each = each.key == "code_server" ? [1] : []

    content {
      registry_arn = aws_service_discovery_service.dagster_code_server.arn
    }
  }

  depends_on = [aws_lb_listener.dagster_https, aws_iam_role_policy.dagster_execution]
}
