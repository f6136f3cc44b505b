#!/usr/bin/env bash
# Private Postgres and novacron-devbroker under .run/, for `make test` and `make run`.
#
#   scripts/devstack.sh start        start both (idempotent), print the env to use
#   scripts/devstack.sh stop         stop both, leave nothing running
#   scripts/devstack.sh env          print KAFKA_BROKERS, POSTGRES_ADMIN_URL, ... as exports
#   scripts/devstack.sh with CMD...  start, run CMD with the env, stop (even on failure or ^C)
#   scripts/devstack.sh pg-stop      stop Postgres only, pg-start start it again (on the port
#                                    NOVACRON_PG_PORT names): an outage for tests and drills
#
# Postgres runs as the `postgres` OS user when invoked as root (it refuses to run as root),
# with password authentication so wrong-password paths behave as in production.
#
# NOVACRON_RUN_DIR (default .run) holds the stack's state, so a second, isolated stack can
# run beside the first (the `make run` test does). Everything started under `with` carries
# NOVACRON_STACK=<that directory> in its environment; `stop` ends only those processes.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUN="${NOVACRON_RUN_DIR:-$ROOT/.run}"
mkdir -p "$RUN"
RUN="$(cd "$RUN" && pwd)"
PGDATA="$RUN/pg"
PGSOCK="$RUN/pgsock"
PGUSER_NAME=novacron
PGPASSWORD_VALUE=novacron
BIN="${NOVACRON_BIN:-$ROOT/.build/debug}"

pg_bin() {
  local v
  for v in 17 16 15 14 13; do
    if [ -x "/usr/lib/postgresql/$v/bin/$1" ]; then echo "/usr/lib/postgresql/$v/bin/$1"; return; fi
  done
  command -v "$1" || { echo "devstack: PostgreSQL server binaries not found (run make deps)" >&2; exit 1; }
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && { exec 3>&- 3<&-; return 0; } || return 1
}

# As root, Postgres runs as `postgres`, which must be able to reach $RUN: a checkout in a
# private directory (`mktemp -d` makes it 0700) is not. Give others search permission (x, not
# read) on each directory of the path that lacks it, and say which.
reachable_by_postgres() {
  [ "$(id -u)" = 0 ] || return 0
  runuser -u postgres -- test -x "$RUN" && return 0
  local dir="$RUN"
  while [ "$dir" != "/" ]; do
    if [ -z "$(find "$dir" -maxdepth 0 -perm -0001)" ]; then
      chmod o+x "$dir"
      echo "devstack: gave others search permission on $dir so Postgres (user postgres) can reach $RUN" >&2
    fi
    dir="$(dirname "$dir")"
  done
}

pg_start() {
  mkdir -p "$RUN"
  if [ "$(id -u)" = 0 ]; then chmod 755 "$RUN"; fi
  reachable_by_postgres
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    rm -rf "$PGDATA" "$PGSOCK"
    mkdir -p "$PGDATA" "$PGSOCK"
    if [ "$(id -u)" = 0 ]; then chown postgres "$PGDATA" "$PGSOCK"; fi
    local pwfile="$RUN/.pgpass.init"
    echo "$PGPASSWORD_VALUE" > "$pwfile"; chmod 644 "$pwfile"
    as_pg "$(pg_bin initdb)" -D "$PGDATA" -U "$PGUSER_NAME" --pwfile="$pwfile" --auth=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$RUN/initdb.log" 2>&1 || { cat "$RUN/initdb.log" >&2; exit 1; }
    rm -f "$pwfile"
  fi
  if [ -f "$RUN/pg.port" ] && as_pg "$(pg_bin pg_ctl)" -D "$PGDATA" status >/dev/null 2>&1; then
    return 0
  fi
  local port="${NOVACRON_PG_PORT:-54329}"
  if port_in_use "$port"; then port="$(free_port)"; fi
  as_pg "$(pg_bin pg_ctl)" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 30 \
    -o "-p $port -k $PGSOCK -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off" \
    start >/dev/null || { tail -20 "$PGDATA/server.log" >&2; exit 1; }
  echo "$port" > "$RUN/pg.port"
  local psql; psql="$(pg_bin psql)"
  if ! PGPASSWORD="$PGPASSWORD_VALUE" "$psql" -h 127.0.0.1 -p "$port" -U "$PGUSER_NAME" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='novacron'" | grep -q 1; then
    PGPASSWORD="$PGPASSWORD_VALUE" "$psql" -h 127.0.0.1 -p "$port" -U "$PGUSER_NAME" -d postgres -qc "CREATE DATABASE novacron"
  fi
}

# A fast shutdown (sessions ended, one checkpoint) bounded to 30 s, then an immediate one:
# a Postgres still stopping must not outlive the stack that started it.
pg_stop() {
  if [ -f "$PGDATA/PG_VERSION" ] && as_pg "$(pg_bin pg_ctl)" -D "$PGDATA" status >/dev/null 2>&1; then
    if ! as_pg "$(pg_bin pg_ctl)" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null 2>&1; then
      echo "devstack: Postgres did not stop within 30 s; stopping it immediately (see $PGDATA/server.log)" >&2
      as_pg "$(pg_bin pg_ctl)" -D "$PGDATA" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    fi
  fi
  rm -f "$RUN/pg.port"
}

broker_start() {
  mkdir -p "$RUN"
  if [ -f "$RUN/devbroker.pid" ] && kill -0 "$(cat "$RUN/devbroker.pid")" 2>/dev/null; then return 0; fi
  [ -x "$BIN/novacron-devbroker" ] || { echo "devstack: $BIN/novacron-devbroker not built (run make build)" >&2; exit 1; }
  rm -f "$RUN/kafka.bootstrap" "$RUN/kafka.control"
  "$BIN/novacron-devbroker" --brokers "${NOVACRON_BROKERS:-3}" --bootstrap-file "$RUN/kafka.bootstrap" \
    --control-file "$RUN/kafka.control" >"$RUN/devbroker.log" 2>&1 &
  echo $! > "$RUN/devbroker.pid"
  for _ in $(seq 1 100); do
    [ -s "$RUN/kafka.bootstrap" ] && [ -s "$RUN/kafka.control" ] && return 0
    kill -0 "$(cat "$RUN/devbroker.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "devstack: dev broker did not start:" >&2; cat "$RUN/devbroker.log" >&2; exit 1
}

broker_stop() {
  if [ -f "$RUN/devbroker.pid" ]; then
    local pid; pid="$(cat "$RUN/devbroker.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$RUN/devbroker.pid"
  fi
}

print_env() {
  local port; port="$(cat "$RUN/pg.port")"
  echo "export KAFKA_BROKERS=$(cat "$RUN/kafka.bootstrap")"
  echo "export NOVACRON_DEVBROKER_CONTROL=$RUN/kafka.control"
  echo "export POSTGRES_ADMIN_URL=postgres://$PGUSER_NAME:$PGPASSWORD_VALUE@127.0.0.1:$port/novacron?sslmode=disable"
  echo "export NOVACRON_BIN=$BIN"
  echo "export NOVACRON_STACK=$RUN"
}

# Services started by tests or `make run` under this stack that are still alive (nothing may
# outlive the stack); another stack's processes are left alone. Always succeeds: a process
# of another stack used to end the function with grep's "no match", and `stop` (set -e)
# then exited before stopping the broker and Postgres.
stack_pids() {
  local pid
  for pid in $(pgrep -f "^$BIN/(novacron-|NovaFixtureService)" 2>/dev/null || true); do
    [ "$pid" = "$(cat "$RUN/devbroker.pid" 2>/dev/null)" ] && continue
    if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "NOVACRON_STACK=$RUN"; then echo "$pid"; fi
  done
  return 0
}
services_stop() {
  local pids
  pids="$(stack_pids)"
  [ -z "$pids" ] && return 0
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 20); do [ -z "$(stack_pids)" ] && return 0; sleep 0.1; done
  pids="$(stack_pids)"
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
}

case "${1:-}" in
  start) pg_start; broker_start; print_env ;;
  stop) services_stop; broker_stop; pg_stop ;;
  env) print_env ;;
  pg-stop) pg_stop ;;
  pg-start) pg_start ;;
  with)
    shift
    trap 'services_stop; broker_stop; pg_stop' EXIT
    trap 'exit 130' INT TERM
    pg_start; broker_start
    eval "$(print_env)"
    "$@"
    ;;
  *) echo "usage: $0 start|stop|env|with CMD...|pg-stop|pg-start" >&2; exit 2 ;;
esac
