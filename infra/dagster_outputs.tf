output "dagster_ui_url" {
  description = "The Dagster UI (Cognito sign-in first)."
  value       = "https://${var.dagster_domain_name}/"
}

output "dagster_alb_dns_name" {
  description = "DNS name of the UI's load balancer: point dagster_domain_name at it (CNAME/alias) if dagster_route53_zone_id is null."
  value       = aws_lb.dagster.dns_name
}

output "dagster_ecr_repository_url" {
  description = "Push the Dagster image here (docker push <url>:<dagster_image_tag>)."
  value       = aws_ecr_repository.dagster.repository_url
}

output "dagster_ecs_cluster" {
  description = "ECS cluster of the Dagster services and run tasks."
  value       = aws_ecs_cluster.dagster.name
}

output "dagster_services" {
  description = "ECS service names (aws ecs update-service --force-new-deployment after a secret rotation)."
  value       = { for name, service in aws_ecs_service.dagster : name => service.name }
}

output "dagster_run_task_definition" {
  description = "The task definition each Dagster run starts (EcsRunLauncher)."
  value       = aws_ecs_task_definition.dagster_run.arn
}

output "dagster_db_endpoint" {
  description = "Host:port of the Dagster Postgres (private)."
  value       = aws_db_instance.dagster.endpoint
}

output "dagster_db_secret_arn" {
  description = "Secrets Manager secret (managed and rotated by RDS) holding the Dagster database user and password."
  value       = local.dagster_db_secret_arn
}

output "dagster_cognito_user_pool_id" {
  description = "Cognito user pool of the UI's users (aws cognito-idp admin-create-user --user-pool-id ...)."
  value       = aws_cognito_user_pool.dagster.id
}

output "dagster_compute_logs_location" {
  description = "Where step stdout/stderr are kept."
  value       = "s3://${local.dagster_compute_logs_bucket}/${local.dagster_compute_logs_prefix}/"
}

output "dagster_log_groups" {
  description = "CloudWatch log groups of the Dagster services and run tasks."
  value       = { for name, group in aws_cloudwatch_log_group.dagster : name => group.name }
}
