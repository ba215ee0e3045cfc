# The images behind docker-compose.yaml, from the official Airflow 3.3.2 image on Python 3.11:
# - target `airflow` (the Airflow services): this repository's pinned runtime set, requirements.txt (which pins
#   apache-airflow itself to the base image's version), and nothing of the local stack;
# - target `local-aws` (the embedded AWS stack): on top of that, Java 17, because the stack runs Glue jobs on local
#   PySpark 3.5 (Glue 5.0's Spark), and requirements/local-stack.txt (moto, PySpark, DuckDB, sqlglot, ...).
# dags/, plugins/, include/ and local_aws/ are not copied in: docker-compose.yaml mounts them.
FROM apache/airflow:3.3.2-python3.11 AS airflow

COPY --chown=airflow:0 requirements.txt /requirements.txt
# Installing a different apache-airflow over the image's would replace the Airflow the image was built for.
RUN base="$(python -c 'from importlib.metadata import version; print(version("apache-airflow"))')" \
    && { grep -qxF "apache-airflow==${base}" /requirements.txt \
         || { echo "requirements.txt must pin apache-airflow==${base}, the base image's Airflow" >&2; exit 1; }; } \
    && pip install --no-cache-dir -r /requirements.txt

FROM airflow AS local-aws

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
RUN pip install --no-cache-dir -r /requirements.txt -r /requirements/local-stack.txt
