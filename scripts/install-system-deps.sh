#!/usr/bin/env bash
# What the tests need outside Python: a PostgreSQL server (Airflow's metadata database in the system tests,
# and the stand-in for Redshift in the emulator's tests) and a MariaDB server (the stand-in for RDS).
# Idempotent and quick when they are already there; without root it only says what is missing
# (the system tests then fall back to SQLite, and the database tests skip, and say so).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

install_postgresql() {
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; then
    echo "PostgreSQL server: installed"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL server: missing; run this script as root to install it (apt-get install postgresql)" >&2
    return
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # Debian starts a cluster of its own on install; the tests start private ones and need none running.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header | while read -r version name _; do
      pg_ctlcluster "$version" "$name" stop >/dev/null 2>&1 || true
    done
  fi
  echo "PostgreSQL server: installed $(ls /usr/lib/postgresql)"
}

# MariaDB: the emulator's RDS data sources query it; the tests start private servers on free ports.
install_mariadb() {
  if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then
    echo "MariaDB server: installed"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "MariaDB server: missing; run this script as root to install it (apt-get install mariadb-server)" >&2
    return
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends mariadb-server >/dev/null
  # Without systemd nothing starts on install; where a service did start, the tests need none running.
  if command -v service >/dev/null 2>&1; then
    service mariadb stop >/dev/null 2>&1 || true
  fi
  echo "MariaDB server: installed $(/usr/sbin/mariadbd --version | awk '{print $3}')"
}

install_postgresql
install_mariadb
