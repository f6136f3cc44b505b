#!/usr/bin/env bash
# `make run`: runs inside `devstack.sh with`, so Postgres and the dev broker are up and
# KAFKA_BROKERS / POSTGRES_ADMIN_URL are set. Starts every service that exists, then the
# fleet simulator with the default scenario (progress, then a summary), and keeps everything
# up until Ctrl-C. With --once it stops after the summary. Other arguments go to novacron-sim
# (e.g. --placements 1000, --scenario FILE). devstack.sh stops whatever is left on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOGS="${NOVACRON_STACK:-$ROOT/.run}"
PLACEMENT_PORT="${NOVACRON_PLACEMENT_PORT:-18080}"
PROVIDER_PORT="${NOVACRON_PROVIDER_PORT:-18081}"
once=false
sim_args=()
scenario_given=false
for arg in "$@"; do
  case "$arg" in
    --once) once=true; sim_args+=(--once) ;;
    --scenario|--scenario=*) scenario_given=true; sim_args+=("$arg") ;;
    *) sim_args+=("$arg") ;;
  esac
done
$scenario_given || sim_args+=(--scenario "$ROOT/Services/Simulator/scenarios/default.json")

topics=$(kcat -b "$KAFKA_BROKERS" -L -m 5 2>/dev/null | grep -c '^  topic "novacron' || true)
if [ "$topics" -lt 1 ]; then echo "run-stack: dev broker at $KAFKA_BROKERS is not answering" >&2; exit 1; fi
db=$(psql "$POSTGRES_ADMIN_URL" -tAc "SELECT current_database()" 2>&1) || { echo "run-stack: Postgres: $db" >&2; exit 1; }

# The dev broker starts empty each time, so the services' state must too: a placement table
# that remembers VMs of an earlier run would disagree with a bus that never saw them.
services=(placement provider_sim)
for schema in "${services[@]}"; do
  psql "$POSTGRES_ADMIN_URL" -q -c "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null
done

pg_port=$(echo "$POSTGRES_ADMIN_URL" | sed -E 's#.*@[^:]+:([0-9]+)/.*#\1#')
pids=()
start_service() {
  local name=$1 schema=$2 port=$3 log=${4:-$1}
  KAFKA_BROKERS="$KAFKA_BROKERS" POSTGRES_ADMIN_URL="$POSTGRES_ADMIN_URL" \
  POSTGRES_URL="postgres://novacron_$schema:dev_$schema@127.0.0.1:$pg_port/novacron?sslmode=disable" \
  HTTP_HOST=127.0.0.1 HTTP_PORT="$port" LOG_LEVEL="${LOG_LEVEL:-notice}" \
    "$NOVACRON_BIN/novacron-$name" >"$LOGS/$log.log" 2>&1 &
  pids+=($!)
}
wait_ready() {
  local name=$1 port=$2 pid=$3
  for _ in $(seq 1 150); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "run-stack: novacron-$name exited:" >&2; tail -5 "$LOGS/${4:-$name}.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "run-stack: novacron-$name not ready:" >&2; curl -s "http://127.0.0.1:$port/readyz" >&2; exit 1
}
stop_services() {
  [ ${#pids[@]} -eq 0 ] && return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  # Services bound their own shutdown (15 s draining + 10 s cancelling); never wait longer.
  for _ in $(seq 1 300); do
    local alive=false pid
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=true; done
    $alive || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "run-stack: process $pid did not stop within 30 s of SIGTERM; killing it (see its log under $LOGS)" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop_services EXIT

start_service placement placement "$PLACEMENT_PORT"
# The simulated provider creates the VMs placement puts on the simulator's hosts (SIM_* tune it).
NOVACRON_PROVIDER=sim start_service provider provider_sim "$PROVIDER_PORT" provider-sim
wait_ready placement "$PLACEMENT_PORT" "${pids[0]}"
wait_ready provider "$PROVIDER_PORT" "${pids[1]}" provider-sim

cat <<INFO
NovaCron embedded stack is up
  Kafka (librdkafka mock cluster): $KAFKA_BROKERS   ($topics catalog topics)
  Postgres:                        ${POSTGRES_ADMIN_URL%%\?*}
  novacron-placement:              http://127.0.0.1:$PLACEMENT_PORT/metrics   (log: $LOGS/placement.log)
  novacron-provider (sim):         http://127.0.0.1:$PROVIDER_PORT/metrics   (log: $LOGS/provider-sim.log)
  From another shell:              .build/debug/novacronctl status
                                   .build/debug/novacronctl events tail
                                   .build/debug/novacronctl vm place my-vm --cpu 2 --memory 4GiB
INFO

# The simulator plays the scenario in the foreground: progress on stderr, summary on stdout.
set +e
"$NOVACRON_BIN/novacron-sim" "${sim_args[@]}" &
sim=$!
trap 'kill -TERM $sim 2>/dev/null' INT TERM
wait $sim
status=$?
# A Ctrl-C interrupts `wait`; wait again for the simulator's clean exit.
if kill -0 $sim 2>/dev/null; then wait $sim; status=$?; fi
set -e
if $once; then
  [ $status -eq 0 ] && echo "--once: scenario played, stopping the stack" || echo "run-stack: novacron-sim failed (exit $status)" >&2
  exit $status
fi
echo "stopping..."
exit 0
