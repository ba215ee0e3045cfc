"""INDATA backup: the Airflow-side package (config model, operators, hooks) behind the `indata_backup` DAG."""
