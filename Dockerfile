# The images behind docker-compose.yaml, on Airflow 3.3.2 and Python 3.11:
# - target `airflow` (the Airflow services): this repository's pinned runtime set, requirements.txt (which pins
#   apache-airflow itself to the base image's version) and the PostgreSQL driver (requirements/compose.txt), and
#   nothing of the local stack;
# - target `local-aws` (the embedded AWS stack): on top of that, Java 17, because the stack runs Glue jobs on local
#   PySpark 3.5 (Glue 5.0's Spark), and requirements/local-stack.txt (moto, PySpark, DuckDB, sqlglot, ...).
# dags/, plugins/, include/ and local_aws/ are not copied in: docker-compose.yaml mounts them.
#
# Build arguments (docker-compose.offline.yaml sets them; `make compose-build` builds with them):
# - AIRFLOW_BASE_IMAGE: the official image by default; offline, the Debian-based image of compose/offline.Dockerfile,
#   which keeps the official image's contract (user airflow, AIRFLOW_HOME, a writable Python on PATH, entrypoint);
# - PIP_OPTIONS: empty (PyPI) by default; offline, `--no-index --find-links /context/.local/wheelhouse`, the wheels
#   `make compose-wheelhouse` builds on the host from the same pinned requirements files;
# - REQUIREMENTS_OVERRIDES: empty by default; offline, requirements/compose-bookworm.txt, pins that replace
#   requirements.txt's lines of the same packages where Debian's Python 3.11.2 needs another version. The image's
#   /requirements.txt is the file after the replacement: what is installed.
ARG AIRFLOW_BASE_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_BASE_IMAGE} AS airflow
ARG PIP_OPTIONS=""
ARG REQUIREMENTS_OVERRIDES=""

COPY --chown=airflow:0 requirements.txt /requirements.txt
COPY --chown=airflow:0 requirements/compose.txt /requirements/compose.txt
# Installing a different apache-airflow over the image's would replace the Airflow the image was built for (the
# offline base has none yet: there requirements.txt installs it). The build context is mounted at /context for
# offline builds' wheel house; it never becomes part of the image.
RUN --mount=type=bind,target=/context \
    if [ -n "${REQUIREMENTS_OVERRIDES}" ]; then \
        for pin in $(grep -E '^[A-Za-z0-9_.-]+==' "/context/${REQUIREMENTS_OVERRIDES}"); do \
            { grep -viE "^${pin%%==*}==" /requirements.txt; echo "${pin}"; } > /tmp/requirements.txt \
            && cat /tmp/requirements.txt > /requirements.txt || exit 1; \
        done; \
    fi \
    && base="$(python -c 'from importlib.metadata import version; print(version("apache-airflow"))' 2>/dev/null || true)" \
    && { [ -z "${base}" ] || grep -qxF "apache-airflow==${base}" /requirements.txt \
         || { echo "requirements.txt must pin apache-airflow==${base}, the base image's Airflow" >&2; exit 1; }; } \
    && pip install --no-cache-dir ${PIP_OPTIONS} -r /requirements.txt -r /requirements/compose.txt

FROM airflow AS local-aws
ARG PIP_OPTIONS=""

USER root
# /usr/share/man/man1 is missing on slim Debian images and the JRE's post-install step needs it.
# /state is the local AWS stack's state directory: a named volume copies this owner when first mounted.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /state \
    && chown airflow:0 /state \
    && chmod 775 /state
USER airflow

COPY --chown=airflow:0 requirements/local-stack.txt /requirements/local-stack.txt
# Resolved together with requirements.txt (already installed above): both files are given, so pip keeps its pins.
RUN --mount=type=bind,target=/context \
    pip install --no-cache-dir ${PIP_OPTIONS} -r /requirements.txt -r /requirements/local-stack.txt
