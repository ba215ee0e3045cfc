#!/bin/bash
# Debian's PostgreSQL 15 as the official postgres image runs: on an empty data directory, a cluster whose superuser
# is POSTGRES_USER (password POSTGRES_PASSWORD, scram-sha-256 over TCP) with the database POSTGRES_DB; then the server,
# listening on every address of the container.
set -euo pipefail
: "${POSTGRES_USER:?POSTGRES_USER must be set}" "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
# A fresh named volume may arrive owned by root.
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  chown postgres "$pwfile"
  runuser -u postgres -- initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";" \
      | runuser -u postgres -- postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
fi
exec runuser -u postgres -- postgres -D "$PGDATA" -c listen_addresses='*'
