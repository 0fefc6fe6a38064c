#!/usr/bin/env bash
# Where the CPU of one send goes: the release build against its own Tansu, loaded by oha, and
# the CPU each party used per request (the service by thread, the broker, the load generator);
# then the same for the bench's bare HTTP ceiling. The README's "Where the time goes" figures
# come from here. Needs `make bench` (or `make build`, `scripts/setup.sh bench`) first.
# Usage: scripts/cpu-per-send.sh [plain|idempotent] [sync|async] [connections] [seconds]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODE="${1:-idempotent}" SEND_MODE="${2:-async}" CONNS="${3:-64}" SECS="${4:-8}"
BIN="$ROOT/target/release/producer-reliability"
[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "$1/stat"; }

BROKER_PORT=$(free_port)
tansu broker --listener-url "tcp://127.0.0.1:$BROKER_PORT" --advertised-listener-url "tcp://127.0.0.1:$BROKER_PORT" \
  --storage-engine memory://tansu/ >/dev/null 2>&1 &
BROKER=$!
HTTP_PORT=$(free_port)
KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$BROKER_PORT" LEPTOS_SITE_ADDR="127.0.0.1:$HTTP_PORT" \
  LEPTOS_SITE_ROOT="$ROOT/target/site" RUST_LOG=warn "$BIN" >/dev/null 2>&1 &
SERVICE=$!
trap 'kill $SERVICE $BROKER 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/health/ready" >/dev/null && break; sleep 0.1; done

URL="http://127.0.0.1:$HTTP_PORT/api/v1/send\?mode=$MODE&eventId=E[a-z]{12}&sendMode=$SEND_MODE&topic=cpu-$$"
oha --no-tui -n 500 -c 4 -m POST --rand-regex-url "$URL" >/dev/null
snapshot() {
  for t in /proc/$SERVICE/task/*; do echo "service:$(tr ' ' _ < "$t/comm") $(cpu_ticks "$t")"; done
  echo "broker $(cpu_ticks /proc/$BROKER)"
}
snapshot > /tmp/cpu-before.$$
/usr/bin/time -f "loadgen %U %S" -o /tmp/cpu-oha.$$ \
  oha --no-tui --output-format json -z "${SECS}s" -c "$CONNS" -m POST --rand-regex-url "$URL" > /tmp/cpu-result.$$
snapshot > /tmp/cpu-after.$$
python3 - "$MODE" "$SEND_MODE" "$CONNS" "$SECS" /tmp/cpu-before.$$ /tmp/cpu-after.$$ /tmp/cpu-oha.$$ /tmp/cpu-result.$$ <<'EOF'
import collections, json, sys
mode, send_mode, conns, secs, before, after, oha_time, result = sys.argv[1:]
summary = json.load(open(result))
rps = summary["summary"]["requestsPerSec"]
requests = rps * int(secs)
used = collections.Counter()
for path, sign in ((before, -1), (after, 1)):
    for line in open(path):
        name, ticks = line.split()
        used[name] += sign * int(ticks) / 100
user, sys_ = open(oha_time).read().split()[1:3]
used["load generator (oha)"] = float(user) + float(sys_)
print(f"{mode} {send_mode}, {conns} connections, {secs} s: {rps:.0f} req/s, "
      f"p50 {summary['latencyPercentiles']['p50'] * 1000:.2f} ms")
print("CPU per request (microseconds):")
for name, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
    if seconds > 0.005:
        print(f"  {name:<32} {seconds * 1e6 / requests:6.1f}")
print(f"  {'total':<32} {sum(used.values()) * 1e6 / requests:6.1f}")
EOF
rm -f /tmp/cpu-*.$$

CEILING_BIN="$ROOT/target/release/examples/bench"
[ -x "$CEILING_BIN" ] || { echo "(no HTTP ceiling figures: run make bench once to build it)"; exit 0; }
CEILING_PORT=$(free_port)
"$CEILING_BIN" --http-ceiling "$CEILING_PORT" &
CEILING=$!
trap 'kill $SERVICE $BROKER $CEILING 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$CEILING_PORT") 2>/dev/null && break; sleep 0.1; done
CEILING_URL="http://127.0.0.1:$CEILING_PORT/api/v1/send"
oha --no-tui -n 500 -c 4 -m POST "$CEILING_URL" >/dev/null
before=$(cpu_ticks /proc/$CEILING)
/usr/bin/time -f "%U %S" -o /tmp/cpu-oha.$$ \
  oha --no-tui --output-format json -z "${SECS}s" -c "$CONNS" -m POST "$CEILING_URL" > /tmp/cpu-result.$$
after=$(cpu_ticks /proc/$CEILING)
python3 - "$SECS" "$before" "$after" /tmp/cpu-oha.$$ /tmp/cpu-result.$$ <<'EOF'
import json, sys
secs, before, after, oha_time, result = sys.argv[1:]
rps = json.load(open(result))["summary"]["requestsPerSec"]
requests = rps * int(secs)
oha = sum(float(x) for x in open(oha_time).read().split())
print(f"HTTP ceiling (bare axum, 202): {rps:.0f} req/s; CPU per request: "
      f"handler {(int(after) - int(before)) / 100 * 1e6 / requests:.1f}, oha {oha * 1e6 / requests:.1f}")
EOF
rm -f /tmp/cpu-*.$$
