"""Glue: crawlers and job runs that really run, behind the Glue API (the catalog itself stays in moto)."""
