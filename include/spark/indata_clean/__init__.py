"""The cleaning Glue job's modules, shipped to Glue as ``--extra-py-files`` next to ``clean_dataset.py``.

The dataset contract they read is the package ``indata_contract`` (plugins/indata_contract, shipped in the same
zip): the Airflow side builds its objects from datasets.yaml, the job reads them back. The modules here are the job
itself: ``reading`` (raw files to a frame), ``columns`` (source fields to clean column names), ``parsing`` (text to
typed values), ``value_changes`` (what a parse or cast would change), ``transforms`` (schema, rules, outcomes),
``accounting`` (counts), ``catalog`` (outputs and the Glue table) and ``job`` (arguments and ``run_job``).
"""
