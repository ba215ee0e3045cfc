"""Data quality of a clean partition beyond the job's own accounting: the checks a dataset declares in the config
(``checks:``), anomalies against the previous committed dates (``anomalies:``), and the report people read.

``model`` holds the plain objects the config builds and validation runs (no pydantic, no Airflow).
"""
