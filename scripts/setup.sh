#!/usr/bin/env bash
# Idempotent set-up: installs only what is missing, so a second run takes seconds.
# Usage: scripts/setup.sh run|test|bench
#   run   - what `make run` / `make build` need (wasm target, cargo-leptos, wasm-bindgen, wasm-opt, tansu)
#   test  - run + Chromium and Playwright
#   bench - run + the load generator (oha)
#   cluster - run + HAProxy (the load balancer of `make cluster`)
# Versions are pinned to what is known to work here (see README "Toolchain").
set -euo pipefail

STAGE="${1:-run}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$TOOLS/node_modules/.bin:$PATH"

CARGO_LEPTOS_VERSION="0.3.10"
WASM_BINDGEN_VERSION="0.2.130"
BINARYEN_VERSION="132"
TANSU_VERSION="0.6.0"
OHA_VERSION="1.16.0"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

APT_UPDATED=0
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if [ "$APT_UPDATED" -eq 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# version_is CMD EXPECTED: true when `CMD --version` mentions EXPECTED.
version_is() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q "$2"; }

setup_run() {
  # Native libraries for rdkafka (TLS, SASL, compression) and the C build of librdkafka.
  apt_install pkg-config libssl-dev libsasl2-dev zlib1g-dev build-essential
  if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
    log "rustup target add wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown
  fi
  if ! version_is wasm-bindgen "$WASM_BINDGEN_VERSION"; then
    log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (~3 min)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
  if ! version_is cargo-leptos "$CARGO_LEPTOS_VERSION"; then
    log "cargo install cargo-leptos $CARGO_LEPTOS_VERSION (~13 min cold)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --force
  fi
  if ! version_is tansu "$TANSU_VERSION"; then
    log "cargo install tansu $TANSU_VERSION (~12 min cold)"
    cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore --force
  fi
  if ! version_is "$TOOLS/node_modules/.bin/wasm-opt" "version $BINARYEN_VERSION"; then
    log "npm install binaryen@$BINARYEN_VERSION into .tools (Debian's wasm-opt breaks hydration)"
    mkdir -p "$TOOLS"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS" "binaryen@$BINARYEN_VERSION"
  fi
}

setup_cluster() {
  setup_run
  apt_install haproxy curl
}

setup_test() {
  setup_cluster
  apt_install chromium
  if [ ! -x "$ROOT/end2end/node_modules/.bin/playwright" ]; then
    log "npm ci in end2end (Playwright, using Debian's Chromium)"
    (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund)
  fi
}

setup_bench() {
  setup_cluster
  if ! version_is oha "$OHA_VERSION"; then
    log "cargo install oha $OHA_VERSION"
    cargo install oha --version "$OHA_VERSION" --locked --force --no-default-features --features native-tls
  fi
}

case "$STAGE" in
  run) setup_run ;;
  test) setup_test ;;
  bench) setup_bench ;;
  cluster) setup_cluster ;;
  *) echo "usage: $0 run|test|bench|cluster" >&2; exit 2 ;;
esac
log "ready ($STAGE)"
