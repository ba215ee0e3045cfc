# Offline base images for docker-compose.offline.yaml, built on a Debian bookworm root file system that
# `make compose-base` makes with debootstrap and imports (no image registry needed). apt reaches the Debian mirror
# through the host network (`podman build --network host`); nothing comes from PyPI here.
#
# - target `airflow-base`: what the Dockerfile's `airflow` target expects of apache/airflow:3.3.2-python3.11, on
#   Debian's Python 3.11: an `airflow` user (uid 50000, group 0), AIRFLOW_HOME=/opt/airflow, a writable Python
#   environment on PATH (a virtualenv owned by that user), curl for the health checks and an entrypoint that runs
#   `airflow <command>` unless the command is bash or python;
# - target `postgres`: Debian's PostgreSQL 15 with an entrypoint that, like the official postgres image's, creates
#   POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB in an empty data directory.
ARG DEBIAN_BASE_IMAGE=localhost/indata-backup-debian:bookworm-minbase
FROM ${DEBIAN_BASE_IMAGE} AS debian
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8

FROM debian AS airflow-base
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv curl ca-certificates tini \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 50000 --gid 0 --create-home --home-dir /home/airflow airflow \
    && python3.11 -m venv /home/airflow/.venv \
    && mkdir -p /opt/airflow \
    && chown -R airflow:0 /home/airflow /opt/airflow \
    && chmod -R g+rwX /home/airflow /opt/airflow
COPY --chmod=755 compose/airflow-entrypoint.sh /entrypoint
ENV AIRFLOW_HOME=/opt/airflow PATH=/home/airflow/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/airflow
USER airflow
ENTRYPOINT ["/usr/bin/tini", "--", "/entrypoint"]
CMD ["--help"]

FROM debian AS postgres
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql \
    && chmod 700 /var/lib/postgresql/data
COPY --chmod=755 compose/postgres-entrypoint.sh /entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["/entrypoint"]
