"""Athena: query executions that really answer, on an embedded engine over the Glue catalog and S3."""
