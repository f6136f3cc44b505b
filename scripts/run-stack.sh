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

cat <<INFO
NovaCron embedded stack is up
  Kafka (librdkafka mock cluster): $KAFKA_BROKERS   ($topics catalog topics)
  Postgres:                        ${POSTGRES_ADMIN_URL%%\?*}
  Use it from another shell:       eval "\$(scripts/devstack.sh env)"
  Watch the bus:                   kcat -b \$KAFKA_BROKERS -C -t novacron.deadletter -f '%t %k %h\\n'
INFO

if $once; then echo "--once: stack verified, stopping"; exit 0; fi
echo "Ctrl-C to stop everything."
trap 'echo; echo "stopping..."; exit 0' INT TERM
while true; do sleep 1; done
