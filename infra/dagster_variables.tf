# Variables of the Dagster deployment on ECS (dagster_*.tf, docs/dagster-aws.md).

variable "dagster_image_tag" {
  description = "Tag of the Dagster image in the dagster ECR repository (built from the repository's Dockerfile); an immutable tag such as the git commit."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.dagster_image_tag)) && var.dagster_image_tag != "latest"
    error_message = "dagster_image_tag must be a Docker tag (1-128 characters of A-Z, a-z, 0-9, '_', '.', '-') other than \"latest\": the repository's tags are immutable."
  }
}

variable "dagster_domain_name" {
  description = "DNS name of the Dagster UI (e.g. dagster.example.com): the ALB's HTTPS listener serves it and Cognito redirects back to it."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.dagster_domain_name))
    error_message = "dagster_domain_name must be a lower-case DNS name such as dagster.example.com."
  }
}

variable "dagster_certificate_arn" {
  description = "ARN of the ACM certificate (in var.region) covering dagster_domain_name, for the ALB's HTTPS listener."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.dagster_certificate_arn))
    error_message = "dagster_certificate_arn must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)."
  }
}

variable "dagster_route53_zone_id" {
  description = "Route 53 hosted zone in which to create dagster_domain_name as an alias of the ALB; null: create the DNS record yourself (output dagster_alb_dns_name)."
  type        = string
  default     = null

  validation {
    condition     = var.dagster_route53_zone_id == null || can(regex("^Z[A-Z0-9]{1,31}$", var.dagster_route53_zone_id))
    error_message = "dagster_route53_zone_id must be null or a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ."
  }
}

variable "dagster_ui_allowed_cidrs" {
  description = "Client networks (CIDR blocks) that may reach the Dagster UI's load balancer at all (office, VPN). Every request is authenticated by Cognito in addition."
  type        = list(string)

  validation {
    condition     = length(var.dagster_ui_allowed_cidrs) > 0 && alltrue([for cidr in var.dagster_ui_allowed_cidrs : can(cidrnetmask(cidr))])
    error_message = "dagster_ui_allowed_cidrs must be a non-empty list of IPv4 CIDR blocks such as 203.0.113.0/24."
  }
}

variable "dagster_admin_emails" {
  description = "E-mail addresses of the data engineers to invite to the Dagster UI (Cognito users; each gets a temporary password by e-mail). Self sign-up is off."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for email in var.dagster_admin_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", email))])
    error_message = "dagster_admin_emails must hold e-mail addresses only."
  }
}

variable "dagster_cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted sign-in domain (<prefix>.auth.<region>.amazoncognito.com), unique in the region. Default: <name_prefix>-dagster-<account id>."
  type        = string
  default     = null

  validation {
    condition     = var.dagster_cognito_domain_prefix == null || can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.dagster_cognito_domain_prefix))
    error_message = "dagster_cognito_domain_prefix must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'."
  }
}

variable "dagster_ui_session_hours" {
  description = "Hours a signed-in UI session lasts before Cognito asks again."
  type        = number
  default     = 12

  validation {
    condition     = var.dagster_ui_session_hours >= 1 && var.dagster_ui_session_hours <= 168
    error_message = "dagster_ui_session_hours must be between 1 and 168."
  }
}

variable "dagster_vpc_cidr" {
  description = "CIDR block of the Dagster VPC (split into a public and a private /20 per availability zone)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.dagster_vpc_cidr)) && tonumber(split("/", var.dagster_vpc_cidr)[1]) <= 18
    error_message = "dagster_vpc_cidr must be an IPv4 CIDR block of /18 or larger."
  }
}

variable "dagster_availability_zones" {
  description = "How many availability zones the VPC spans (the ALB and RDS subnet group need at least 2)."
  type        = number
  default     = 2

  validation {
    condition     = var.dagster_availability_zones >= 2 && var.dagster_availability_zones <= 3
    error_message = "dagster_availability_zones must be 2 or 3."
  }
}

variable "dagster_nat_gateway_per_az" {
  description = "One NAT gateway per availability zone (survives an AZ outage, ~USD 33/month each) instead of one shared."
  type        = bool
  default     = false

  validation {
    condition     = var.dagster_nat_gateway_per_az != null
    error_message = "dagster_nat_gateway_per_az must be true or false, not null."
  }
}

variable "dagster_db_instance_class" {
  description = "RDS instance class of the Dagster Postgres (runs, event logs, schedules)."
  type        = string
  default     = "db.t4g.small"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.dagster_db_instance_class))
    error_message = "dagster_db_instance_class must be an RDS instance class such as db.t4g.small."
  }
}

variable "dagster_db_engine_version" {
  description = "PostgreSQL major version of the Dagster database (minor versions are upgraded in the maintenance window)."
  type        = string
  default     = "16"

  validation {
    condition     = contains(["14", "15", "16", "17"], var.dagster_db_engine_version)
    error_message = "dagster_db_engine_version must be one of 14, 15, 16, 17."
  }
}

variable "dagster_db_allocated_storage_gb" {
  description = "Initial storage of the Dagster database in GB (grows automatically up to 5x)."
  type        = number
  default     = 20

  validation {
    condition     = var.dagster_db_allocated_storage_gb >= 20 && var.dagster_db_allocated_storage_gb <= 1000
    error_message = "dagster_db_allocated_storage_gb must be between 20 and 1000."
  }
}

variable "dagster_db_multi_az" {
  description = "A standby replica of the Dagster database in a second availability zone (doubles its cost)."
  type        = bool
  default     = false

  validation {
    condition     = var.dagster_db_multi_az != null
    error_message = "dagster_db_multi_az must be true or false, not null."
  }
}

variable "dagster_db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery) of the Dagster database."
  type        = number
  default     = 7

  validation {
    condition     = var.dagster_db_backup_retention_days >= 1 && var.dagster_db_backup_retention_days <= 35
    error_message = "dagster_db_backup_retention_days must be between 1 and 35."
  }
}

variable "dagster_db_deletion_protection" {
  description = "Refuse to delete the Dagster database (set false, apply, then destroy, to remove it on purpose)."
  type        = bool
  default     = true

  validation {
    condition     = var.dagster_db_deletion_protection != null
    error_message = "dagster_db_deletion_protection must be true or false, not null."
  }
}

variable "dagster_max_concurrent_runs" {
  description = "At most this many Dagster runs (ECS run tasks) at once; more are queued. Apart from it, one run per month partition at a time."
  type        = number
  default     = 4

  validation {
    condition     = var.dagster_max_concurrent_runs >= 1 && var.dagster_max_concurrent_runs <= 50 && floor(var.dagster_max_concurrent_runs) == var.dagster_max_concurrent_runs
    error_message = "dagster_max_concurrent_runs must be a whole number between 1 and 50."
  }
}

variable "dagster_task_sizes" {
  description = "Fargate CPU units and memory (MiB) of each Dagster task: webserver, daemon, code_server, run (one run task per Dagster run)."
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {
    webserver   = { cpu = 512, memory = 2048 }
    daemon      = { cpu = 512, memory = 1024 }
    code_server = { cpu = 512, memory = 2048 }
    run         = { cpu = 2048, memory = 8192 }
  }

  validation {
    condition = (
      length(setsubtract(["webserver", "daemon", "code_server", "run"], keys(var.dagster_task_sizes))) == 0 &&
      alltrue([for size in values(var.dagster_task_sizes) : contains([256, 512, 1024, 2048, 4096, 8192, 16384], size.cpu) && size.memory >= 512 && size.memory <= 122880])
    )
    error_message = "dagster_task_sizes needs webserver, daemon, code_server and run, each with a Fargate cpu (256-16384) and memory (512-122880 MiB)."
  }
}

variable "dagster_log_retention_days" {
  description = "Retention of the Dagster CloudWatch log groups (webserver, daemon, code server, runs)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.dagster_log_retention_days)
    error_message = "dagster_log_retention_days must be one of the CloudWatch retention values (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}
