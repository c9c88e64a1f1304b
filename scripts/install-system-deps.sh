#!/usr/bin/env bash
# What the tests need outside Python: a PostgreSQL server (Airflow's metadata database in the system tests,
# and the stand-in for Redshift in the emulator's tests), a MariaDB server (the stand-in for RDS) and
# redis-server (the CeleryExecutor's broker in the distributed tests), and Chromium (the documentation site
# loaded page by page in a headless browser, tests/docs/test_site.py). Idempotent and quick when they are
# already there; without root it only says what is missing (the system tests then fall back to SQLite, the
# database tests skip, and the distributed tests fail naming what they need).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
updated=""

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "$1: missing; run this script as root to install it (apt-get install $2)" >&2
    return 1
  fi
  [ -n "$updated" ] || { apt-get update -qq; updated=1; }
  apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

install_postgresql() {
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; then
    echo "PostgreSQL server: installed"
    return
  fi
  apt_install "PostgreSQL server" postgresql || return 0
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
  apt_install "MariaDB server" mariadb-server || return 0
  # Without systemd nothing starts on install; where a service did start, the tests need none running.
  if command -v service >/dev/null 2>&1; then
    service mariadb stop >/dev/null 2>&1 || true
  fi
  echo "MariaDB server: installed $(/usr/sbin/mariadbd --version | awk '{print $3}')"
}

# Redis: the distributed tests' Celery broker, started by the harness on a free port with its own config.
install_redis() {
  if command -v redis-server >/dev/null 2>&1; then
    echo "Redis server: installed"
    return
  fi
  apt_install "Redis server" redis-server || return 0
  if command -v service >/dev/null 2>&1; then
    service redis-server stop >/dev/null 2>&1 || true
  fi
  echo "Redis server: installed"
}

# Chromium: Debian's build, driven headless over the DevTools protocol; no browser is downloaded at test time.
install_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    echo "Chromium: installed"
    return
  fi
  apt_install "Chromium" chromium || return 0
  echo "Chromium: installed $(chromium --version 2>/dev/null | awk '{print $2}')"
}

install_postgresql
install_mariadb
install_redis
install_chromium
