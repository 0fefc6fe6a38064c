# producer-reliability: the two commands are `make run` and `make test`.
# Every target installs what it needs first (scripts/setup.sh skips what is already there).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/.tools/node_modules/.bin:$(PATH)
# Read by Leptos at compile time when the server is built outside cargo-leptos (cargo test).
export LEPTOS_OUTPUT_NAME := producer-reliability
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

BIN := target/release/producer-reliability

.PHONY: help setup build run cluster test lint unit-and-integration e2e bench image-smoke clean

help:
	@echo "make run    - set up what is missing, build (release), serve on http://127.0.0.1:3000 with an embedded broker"
	@echo "make test   - set up, then run every test: lint, unit, integration (real Tansu), browser (Chromium)"
	@echo "make build  - build only;  make bench - benchmark against its ceilings"
	@echo "make cluster - one broker, three replicas (3001-3003) and HAProxy on 3000 sharing their statuses"
	@echo "make image-smoke - the Dockerfile's runtime stage in a debootstrap'd root (root, no Docker needed)"

setup:
	@scripts/setup.sh run

# --split: the Lab page is a lazily loaded WASM chunk.
build: setup
	cargo leptos build --release --split

run: build
	LEPTOS_SITE_ROOT=target/site $(BIN)

# Three replicas behind a real load balancer (HAProxy); Ctrl-C stops them all.
cluster: build
	@scripts/setup.sh cluster
	scripts/cluster.sh

test: lint unit-and-integration e2e
	@echo "all tests passed"

lint: setup
	cargo fmt --all -- --check
	cargo clippy --features ssr,test-hooks --all-targets -- -D warnings
	cargo clippy --lib --no-default-features --features hydrate --target wasm32-unknown-unknown -- -D warnings

unit-and-integration: setup
	cargo test --features ssr,test-hooks

# The run is kept in target/e2e.log; on a failure its summary is printed last (where a CI log's
# tail shows it), after cargo-leptos's own report.
e2e: setup
	@scripts/setup.sh test
	@mkdir -p target
	cargo leptos end-to-end --release --split 2>&1 | tee target/e2e.log || scripts/e2e-failed.sh target/e2e.log

# The baseline the shared status table is measured against: the same code with statuses in
# process memory (feature bench-local-table), built first and set aside.
bench:
	@scripts/setup.sh bench
	cargo build --release --features bench-local-table --bin producer-reliability
	mkdir -p target/bench && cp $(BIN) target/bench/producer-reliability-local-table
	cargo leptos build --release --split
	cargo run --release --features ssr --example bench

# The Dockerfile's runtime stage without a Docker engine: a debootstrap'd bookworm root (root only).
image-smoke: build
	scripts/rootfs-smoke.sh

clean:
	cargo clean
