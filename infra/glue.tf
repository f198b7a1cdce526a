# The Glue database. The tables (one per dataset, partition projection, no crawler and no partition
# management) are generated from the pandera models into glue_tables.tf.json by
# `tickerlake catalog terraform` (glue/catalog.py) — never edit that file by hand; a test checks that it
# equals a fresh generation.
resource "aws_glue_catalog_database" "tickerlake" {
  name        = var.glue_database_name
  description = "tickerlake: daily market data (prices, indicators, percentiles, features); tables use partition projection."
}
