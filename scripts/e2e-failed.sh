#!/usr/bin/env bash
# Prints why `make e2e` failed, from its log (LOG): a build's or a spec's first errors, the specs
# that failed, and the disk and memory left; last, where a CI log's tail shows it. Exits 1.
set -uo pipefail
LOG="${1:-target/e2e.log}"
plain_log() { sed -E 's/\x1b\[[0-9;]*m//g' "$LOG"; }
echo
echo "=== make e2e failed (whole log: $LOG). First errors:"
plain_log | grep -aE '^\s+(Error|TimeoutError|Timed out|Expected|Received)|^error(\[|:)|webServer|No space left|Killed' \
  | grep -avE 'librdkafka|state topic' | head -10
echo "=== specs:"
plain_log | grep -aE '^\s+[0-9]+ (failed|flaky|passed|did not run)|✘' | tail -8
echo "=== disk and memory left:"
df -h "$(dirname "$LOG")" | tail -1
free -m | sed -n 2p
exit 1
