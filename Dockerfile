# producer-reliability: build with cargo-leptos, run on Debian slim as a non-root user.
# The image talks to `kafka:29092` (as the seed tutorial's did); set KAFKA_BOOTSTRAP_SERVERS=""
# to run it alone on its embedded in-memory Tansu broker.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev libsasl2-dev zlib1g-dev nodejs npm \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-unknown-unknown \
 && cargo install wasm-bindgen-cli --version 0.2.130 \
 && cargo install cargo-leptos --version 0.3.10 --locked \
 && cargo install tansu --version 0.6.0 --locked --features dynostore
# Debian's wasm-opt breaks hydration: use binaryen 132 from npm.
RUN npm install -g binaryen@132
WORKDIR /src
COPY . .
# The symbol table (names of Leptos' nested view types) is most of the binary: not shipped.
RUN cargo leptos build --release --split \
 && strip target/release/producer-reliability

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libsasl2-2 zlib1g curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /src/target/release/producer-reliability /app/producer-reliability
COPY --from=build /src/target/site /app/site
COPY --from=build /usr/local/cargo/bin/tansu /usr/local/bin/tansu
ENV LEPTOS_OUTPUT_NAME=producer-reliability \
    LEPTOS_SITE_ROOT=/app/site \
    LEPTOS_SITE_PKG_DIR=pkg \
    LEPTOS_SITE_ADDR=0.0.0.0:8080 \
    KAFKA_BOOTSTRAP_SERVERS=kafka:29092 \
    LOG_FORMAT=json
EXPOSE 8080
USER app
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/app/producer-reliability"]
