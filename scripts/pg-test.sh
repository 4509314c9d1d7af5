#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, on 127.0.0.1 and a free port, with password
# (SCRAM) authentication: initdb and pg_ctl into a temporary directory as a non-root user
# (the `postgres` system user when run as root).
#
#   eval "$(scripts/pg-test.sh start)"   # exports HARBORGUARD_TEST_POSTGRES_URL and PG_TEST_DIR
#   scripts/pg-test.sh stop "$PG_TEST_DIR"
#   scripts/pg-test.sh pause "$PG_TEST_DIR"    # stops the server, keeping its data (an outage)
#   scripts/pg-test.sh resume "$PG_TEST_DIR"   # starts it again on the same port
set -euo pipefail

bindir=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && bindir="$d"; done
[ -n "$bindir" ] || { echo "pg-test: no PostgreSQL server found (apt-get install postgresql-15)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_server() {
  local dir="$1" port
  port=$(cat "$dir/port")
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=200 -c fsync=off" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
}

case "${1:-}" in
start)
  dir=$(mktemp -d /tmp/hg-pg-test.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  printf '%s\n' "$password" > "$dir/pwfile"
  [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
  chmod 700 "$dir"
  as_owner "$bindir/initdb" -D "$dir/data" -U harborguard --pwfile="$dir/pwfile" --auth=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  printf '%s\n' "$port" > "$dir/port"
  start_server "$dir"
  PGPASSWORD="$password" "$bindir/psql" -h 127.0.0.1 -p "$port" -U harborguard -d postgres -qAt \
    -c "CREATE DATABASE harborguard_test" >/dev/null
  echo "export PG_TEST_DIR=$dir"
  echo "export HARBORGUARD_TEST_POSTGRES_URL='postgres://harborguard:$password@127.0.0.1:$port/harborguard_test?sslmode=disable'"
  ;;
pause)
  dir="${2:?usage: pg-test.sh pause DIR}"
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
resume)
  dir="${2:?usage: pg-test.sh resume DIR}"
  start_server "$dir"
  ;;
stop)
  dir="${2:?usage: pg-test.sh stop DIR}"
  [ -d "$dir/data" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: pg-test.sh start | stop DIR | pause DIR | resume DIR" >&2
  exit 64
  ;;
esac
