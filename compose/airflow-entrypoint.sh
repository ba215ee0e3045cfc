#!/bin/bash
# The offline Airflow image's entrypoint, as the official image's behaves for this compose file: `bash ...` and
# `python ...` run as given, anything else is an Airflow command (`api-server`, `scheduler`, ...).
set -euo pipefail
case "${1:-}" in
  bash | python | python3 | airflow | sh) exec "$@" ;;
  *) exec airflow "$@" ;;
esac
