#!/usr/bin/env bash
# A local cluster to try the shared statuses: one broker (Tansu, or KAFKA_BOOTSTRAP_SERVERS),
# three replicas of the service and HAProxy in front of them (round robin, health checks on
# /health/ready). Ctrl-C stops them all.
#
#   scripts/cluster.sh            # what `make cluster` runs (after building the release)
#   PORT=3000 REPLICA_PORTS="3001 3002 3003" BROKER_PORT=9092 scripts/cluster.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${BIN:-$ROOT/target/release/producer-reliability}"
PORT="${PORT:-3000}"
REPLICA_PORTS="${REPLICA_PORTS:-3001 3002 3003}"
BROKER_PORT="${BROKER_PORT:-9092}"
RUN_DIR="$(mktemp -d -t producer-reliability-cluster.XXXXXX)"
PIDS=()

log() { printf '\033[1;34m[cluster]\033[0m %s\n' "$*"; }

stop_all() {
  trap - INT TERM EXIT
  log "stopping"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  log "logs kept in $RUN_DIR"
}
trap stop_all INT TERM EXIT

[ -x "$BIN" ] || { echo "no release build at $BIN: run 'make build' first" >&2; exit 1; }
command -v haproxy >/dev/null || { echo "haproxy is missing: 'make cluster' installs it (apt-get install haproxy)" >&2; exit 1; }

wait_http() { # URL SECONDS
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "$1 did not answer within $2 s" >&2; return 1; }
    sleep 0.2
  done
}

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  log "broker: Tansu on 127.0.0.1:$BROKER_PORT (in memory)"
  (cd "$RUN_DIR" && env -u CLUSTER_ID -u LISTENER_URL -u ADVERTISED_LISTENER_URL -u STORAGE_ENGINE RUST_LOG=warn \
    tansu broker --listener-url "tcp://127.0.0.1:$BROKER_PORT" --advertised-listener-url "tcp://127.0.0.1:$BROKER_PORT" \
    --storage-engine memory://tansu/ --cluster-id producer-reliability-cluster >"$RUN_DIR/tansu.log" 2>&1) &
  PIDS+=($!)
  export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$BROKER_PORT"
  for _ in $(seq 1 75); do (echo >"/dev/tcp/127.0.0.1/$BROKER_PORT") 2>/dev/null && break; sleep 0.2; done
else
  log "broker: $KAFKA_BOOTSTRAP_SERVERS"
fi

SERVERS=""
i=0
for port in $REPLICA_PORTS; do
  i=$((i + 1))
  log "replica r$i on http://127.0.0.1:$port"
  LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT="$ROOT/target/site" REPLICA_ID="r$i" \
    RUST_LOG="${RUST_LOG:-warn}" "$BIN" >"$RUN_DIR/r$i.log" 2>&1 &
  PIDS+=($!)
  SERVERS="$SERVERS    server r$i 127.0.0.1:$port check
"
done
for port in $REPLICA_PORTS; do wait_http "http://127.0.0.1:$port/health/ready" 60; done

cat >"$RUN_DIR/haproxy.cfg" <<CFG
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 180s
    timeout server 180s
frontend web
    bind 127.0.0.1:$PORT
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /health/ready
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
$SERVERS
CFG
haproxy -f "$RUN_DIR/haproxy.cfg" -db >"$RUN_DIR/haproxy.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/health" 10
log "ready: http://127.0.0.1:$PORT (HAProxy, round robin over $(echo $REPLICA_PORTS | wc -w) replicas); logs in $RUN_DIR; Ctrl-C stops all"
wait -n "${PIDS[@]}" || true
log "a process of the cluster exited; see $RUN_DIR"
