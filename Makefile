# Every target installs what it needs into .venv first; all local state lives under .local/.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

LOCAL_AWS_PORT ?= 4566
LOCAL_AWS_STATE ?= .local/aws
AIRFLOW_PORT ?= 8080
export AIRFLOW_HOME := $(CURDIR)/.local/airflow
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: venv java browser test up down aws run verify restore bench-backup setup-bucket bench-local-aws bench-spark

venv: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# Spark (the Glue job's engine) needs Java 17.
java:
	@java -version 2>&1 | grep -q 'version "17' || { \
	  echo "Java 17 is required (PySpark 3.5, as on Glue 5.0)."; \
	  echo "Install it with: apt-get update && apt-get install -y openjdk-17-jre-headless"; exit 1; }

# Headless Chromium and its driver from Debian, for the UI tests; installed (as root, like CI) only when missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  [ "$$(id -u)" = 0 ] || { echo "The UI tests need Debian's chromium and chromium-driver:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y chromium chromium-driver"; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

test: venv java browser
	$(PY) -m pytest

# Airflow (UI and /api/v2 on AIRFLOW_PORT) and the local AWS stack in the background; logs in .local/logs.
# SCHEDULE=1 lets the scheduler create scheduled runs too (the DAG then catches up from its start date).
up: venv java
	$(PY) scripts/airflow_up.py up --api-port $(AIRFLOW_PORT) --aws-port $(LOCAL_AWS_PORT) \
	  --aws-state $(LOCAL_AWS_STATE) $(if $(SCHEDULE),--schedule)

# Stops exactly what `make up` started (its process groups, from .local/up.json).
down: venv
	$(PY) scripts/airflow_up.py down

aws: venv
	$(PY) -m local_aws --port $(LOCAL_AWS_PORT) --state-dir $(LOCAL_AWS_STATE)

DATE ?= 2026-11-01
run: venv java
	$(PY) scripts/run_local.py --date $(DATE) --port $(LOCAL_AWS_PORT)

# Both read the local stack on LOCAL_AWS_PORT (started if none answers, as for run); REAL_AWS=1 uses boto3's
# default chain instead (credentials, AWS_ENDPOINT_URL); region and bucket come from the config.
BACKUPS = $(PY) scripts/backups.py$(if $(REAL_AWS),, --local-port $(LOCAL_AWS_PORT))
verify: venv
	$(BACKUPS) verify --date $(DATE) $(if $(DATASET),--dataset $(DATASET)) $(if $(DEEP),--deep)

restore: venv
	$(BACKUPS) restore $(if $(DATASET),--dataset $(DATASET)) --date $(DATE) $(if $(TARGET),--target "$(TARGET)")

# The backup operator against `aws s3 sync` on a fresh local stack: 5,000 x 16 KiB, 2 x 256 MiB, no-change rerun.
bench-backup: venv
	$(PY) scripts/bench_backup.py

# Start-up, crawl, job overhead, Athena COUNT(*) and S3 upload throughput vs plain moto, in one run.
bench-local-aws: venv java
	$(PY) scripts/bench_local_aws.py

# The Glue cleaning job on local Spark (local[2]) against the same cleaning in DuckDB SQL, on 1,000,000 generated
# ventas rows; fails unless both give the same counts and rows. ROWS=n for another size, PROFILE=1 for Spark's stages.
ROWS ?= 1000000
bench-spark: venv java
	$(PY) scripts/bench_spark.py --rows $(ROWS) $(if $(PROFILE),--profile)

# Versioning, public access block, default encryption and lifecycle rules on the bucket, from the config
# (idempotent). The local stack on LOCAL_AWS_PORT, as for verify; REAL_AWS=1 uses boto3's default chain.
setup-bucket: venv
	$(PY) scripts/setup_bucket.py $(if $(REAL_AWS),,--local-port $(LOCAL_AWS_PORT))
