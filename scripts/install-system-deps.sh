#!/usr/bin/env bash
# What the system tests need outside Python: a PostgreSQL server for Airflow's metadata database, and
# redis-server as the CeleryExecutor's broker in the distributed tests. Idempotent and quick when both are
# there; without root it only says what is missing (the system tests then fall back to SQLite and say so,
# and the distributed tests fail naming what they need).
set -euo pipefail

missing=()
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; then
  echo "PostgreSQL server: installed"
else
  missing+=(postgresql)
fi
if command -v redis-server >/dev/null 2>&1; then
  echo "Redis server: installed"
else
  missing+=(redis-server)
fi
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing: ${missing[*]}; run this script as root to install them (apt-get install ${missing[*]})" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts servers of its own on install; the tests start private ones on free ports and need none.
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters --no-header | while read -r version name _; do
    pg_ctlcluster "$version" "$name" stop >/dev/null 2>&1 || true
  done
fi
if [[ " ${missing[*]} " == *" redis-server "* ]]; then
  service redis-server stop >/dev/null 2>&1 || true
fi
echo "Installed: ${missing[*]}"
