"""The cleaning Glue job's modules, shipped to Glue as ``--extra-py-files`` next to ``clean_dataset.py``.

``contract`` is the dataset contract, shared with the Airflow side (plugins/indata_ops/config.py builds its
objects from datasets.yaml): it imports neither Spark nor Airflow. The other modules are the job itself:
``reading`` (raw files to a frame), ``naming`` (source fields to clean column names), ``parsing`` (text to typed
values), ``value_changes`` (what a parse or cast would change), ``transforms`` (schema, rules, outcomes),
``accounting`` (counts), ``catalog`` (outputs and the Glue table) and ``job`` (arguments and ``run_job``).

This file stays empty of imports: the DAG imports ``indata_clean.contract`` at parse time, without Spark.
"""
