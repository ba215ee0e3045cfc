"""The command-line tools behind the Makefile's targets (`make run`, `up`/`down`, `verify`/`restore`,
`setup-bucket`, the benches).

Each runs as a module from the repository root, with plugins/ on PYTHONPATH as Airflow itself puts it there:

    PYTHONPATH=plugins python -m scripts.run_local --date 2026-11-01

The Makefile's targets do exactly that. What several tools share (the repository's root, the local AWS stack, the
Airflow environment, the S3 client) lives in scripts/common.py.
"""
