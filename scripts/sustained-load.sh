#!/usr/bin/env bash
# Sustained load on one fresh service with its embedded broker: async idempotent sends at 64
# connections in four windows of 15 s, then the state view's lag p99 (docs/performance.md).
# Usage: [SEND=sync] scripts/sustained-load.sh [BINARY] (default target/release/producer-reliability,
# built by `make bench`); needs oha (scripts/setup.sh bench). Extra settings go in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/producer-reliability}
addr=127.0.0.1:3098
LEPTOS_SITE_ADDR=$addr LEPTOS_SITE_ROOT=target/site RUST_LOG=warn "$bin" >/tmp/sustained-load.log 2>&1 &
service=$!
trap 'kill -TERM $service 2>/dev/null; wait $service 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://$addr/health/ready" >/dev/null && break; sleep 0.2; done
url="http://$addr/api/v1/send\?mode=idempotent&sendMode=${SEND:-async}&topic=sustained-load&eventId=[a-z0-9]{12}"
rates=""
for _ in 1 2 3 4; do
  rates="$rates $(oha --no-tui -m POST -c 64 -z 15s --rand-regex-url "$url" --output-format json |
    python3 -c 'import json,sys; r=json.load(sys.stdin); bad=sum(n for c,n in r["statusCodeDistribution"].items() if not c.startswith("2")); print("%.0f(p50 %.1f ms%s)" % (r["summary"]["requestsPerSec"], 1000*r["latencyPercentiles"]["p50"], ", %d not 2xx" % bad if bad else ""))')"
done
echo "req/s in four windows of 15 s:$rates"
curl -s "http://$addr/metrics" | python3 -c '
import re, sys
buckets, count = [], 0.0
for line in sys.stdin:
    m = re.match(r"state_view_lag_seconds_bucket\{le=\"([^\"]+)\"\} (\S+)", line)
    if m: buckets.append((m.group(1), float(m.group(2))))
    if line.startswith("state_view_lag_seconds_count"): count = float(line.split()[1])
p99 = next((le for le, n in buckets if count and n >= 0.99 * count), "?")
print(f"state view lag p99 <= {p99} s over {int(count)} records")'
