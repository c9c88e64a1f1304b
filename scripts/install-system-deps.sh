#!/usr/bin/env bash
# What the system tests need outside Python: a PostgreSQL server for Airflow's metadata database.
# Idempotent and quick when PostgreSQL is already there; without root it only says what is missing
# (the system tests then fall back to SQLite and say so).
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; then
  echo "PostgreSQL server: installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL server: missing; run this script as root to install it (apt-get install postgresql)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# Debian starts a cluster of its own on install; the tests start private ones and need none running.
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters --no-header | while read -r version name _; do
    pg_ctlcluster "$version" "$name" stop >/dev/null 2>&1 || true
  done
fi
echo "PostgreSQL server: installed $(ls /usr/lib/postgresql)"
