#!/usr/bin/env bash
# `make run`: runs inside `devstack.sh with`, so Postgres and the dev broker are up and
# KAFKA_BROKERS / POSTGRES_ADMIN_URL are set. Checks both answer, prints how to reach them,
# and keeps the stack up until Ctrl-C (or exits at once with --once).
# Services join here as they land (placement, simulator, ...): see README "Status".
set -euo pipefail
once=false
for arg in "$@"; do
  case "$arg" in
    --once) once=true ;;
    *) echo "run-stack: unknown argument '$arg' (expected --once)" >&2; exit 2 ;;
  esac
done

topics=$(kcat -b "$KAFKA_BROKERS" -L -m 5 2>/dev/null | grep -c '^  topic "novacron' || true)
if [ "$topics" -lt 1 ]; then echo "run-stack: dev broker at $KAFKA_BROKERS is not answering" >&2; exit 1; fi
db=$(psql "$POSTGRES_ADMIN_URL" -tAc "SELECT current_database()" 2>&1) || { echo "run-stack: Postgres: $db" >&2; exit 1; }

# Services that exist so far, each with its own role and schema (created at start).
pg_port=$(echo "$POSTGRES_ADMIN_URL" | sed -E 's#.*@[^:]+:([0-9]+)/.*#\1#')
pids=()
start_service() {
  local name=$1 schema=$2
  KAFKA_BROKERS="$KAFKA_BROKERS" POSTGRES_ADMIN_URL="$POSTGRES_ADMIN_URL" \
  POSTGRES_URL="postgres://novacron_$schema:dev_$schema@127.0.0.1:$pg_port/novacron?sslmode=disable" \
  HTTP_HOST=127.0.0.1 HTTP_PORT="${3:-0}" LOG_LEVEL="${LOG_LEVEL:-notice}" \
    "$NOVACRON_BIN/novacron-$name" >"$ROOT/.run/$name.log" 2>&1 &
  pids+=($!)
}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
start_service placement placement 18080
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:18080/readyz >/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "run-stack: novacron-placement exited:" >&2; tail -5 "$ROOT/.run/placement.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf http://127.0.0.1:18080/readyz >/dev/null || { echo "run-stack: novacron-placement not ready:" >&2; curl -s http://127.0.0.1:18080/readyz >&2; exit 1; }

cat <<INFO
NovaCron embedded stack is up
  Kafka (librdkafka mock cluster): $KAFKA_BROKERS   ($topics catalog topics)
  Postgres:                        ${POSTGRES_ADMIN_URL%%\?*}
  novacron-placement:              http://127.0.0.1:18080/metrics   (log: .run/placement.log)
  Use it from another shell:       eval "\$(scripts/devstack.sh env)"
  Watch the bus:                   kcat -b \$KAFKA_BROKERS -C -t novacron.deadletter -f '%t %k %h\\n'
INFO

if $once; then echo "--once: stack verified, stopping"; exit 0; fi
echo "Ctrl-C to stop everything."
trap 'echo; echo "stopping..."; exit 0' INT TERM
while true; do sleep 1; done
