#!/usr/bin/env bash
# What the Dockerfile's runtime stage promises, proved without a Docker engine: a Debian
# bookworm root made with debootstrap, holding only the runtime stage's packages, runs the
# release build as a non-root user; /health answers and a send lands on the embedded broker.
# Needs root (debootstrap, chroot) and `make build` first. Usage: scripts/rootfs-smoke.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROOTFS="${ROOTFS:-$ROOT/target/rootfs-bookworm}"
PORT="${PORT:-18080}"
BIN="$ROOT/target/release/producer-reliability"
TANSU="$(command -v tansu || echo "$HOME/.cargo/bin/tansu")"
log() { printf '\033[1;34m[rootfs]\033[0m %s\n' "$*"; }

[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null

if [ ! -x "$ROOTFS/usr/bin/curl" ]; then
  log "debootstrap bookworm (minbase) into $ROOTFS"
  debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian >/dev/null
  log "installing the runtime stage's packages only"
  chroot "$ROOTFS" apt-get install -y -qq --no-install-recommends ca-certificates libssl3 libsasl2-2 zlib1g curl >/dev/null
  chroot "$ROOTFS" useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app
fi

log "copying the release build, its site and Tansu, as the Dockerfile does"
mkdir -p "$ROOTFS/app" "$ROOTFS/proc"
cp "$BIN" "$ROOTFS/app/producer-reliability"
rm -rf "$ROOTFS/app/site" && cp -r "$ROOT/target/site" "$ROOTFS/app/site"
cp "$TANSU" "$ROOTFS/usr/local/bin/tansu"
chown -R 10001:10001 "$ROOTFS/app"

mountpoint -q "$ROOTFS/proc" || mount -t proc proc "$ROOTFS/proc"
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  umount "$ROOTFS/proc" 2>/dev/null || true
}
trap cleanup EXIT

log "ldd inside the root: every library of the service and of Tansu resolves"
for exe in /app/producer-reliability /usr/local/bin/tansu; do
  if chroot "$ROOTFS" ldd "$exe" | grep -q "not found"; then
    chroot "$ROOTFS" ldd "$exe"; exit 1
  fi
done

log "starting as uid 10001 with the image's environment (embedded broker: KAFKA_BOOTSTRAP_SERVERS empty)"
chroot --userspec=10001:10001 "$ROOTFS" env -i HOME=/app PATH=/usr/local/bin:/usr/bin:/bin \
  LEPTOS_OUTPUT_NAME=producer-reliability LEPTOS_SITE_ROOT=/app/site LEPTOS_SITE_PKG_DIR=pkg \
  LEPTOS_SITE_ADDR="0.0.0.0:$PORT" KAFKA_BOOTSTRAP_SERVERS= LOG_FORMAT=json \
  /app/producer-reliability > "$ROOT/target/rootfs-smoke.log" 2>&1 &
PID=$!

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
log "/health: $(curl -fsS "http://127.0.0.1:$PORT/health")"
answer=$(curl -fsS -X POST "http://127.0.0.1:$PORT/api/v1/send?mode=idempotent&eventId=ROOTFS-1")
log "send: $answer"
echo "$answer" | grep -q '"offset"'
page=$(curl -fsS "http://127.0.0.1:$PORT/")
echo "$page" | grep -q 'producer-reliability' && log "page served"
curl -fsS "http://127.0.0.1:$PORT/pkg/producer-reliability.wasm" -o /dev/null && log "wasm served"
log "the process runs as: $(ps -o user= -p "$PID" 2>/dev/null || echo '?')"
log "OK"
