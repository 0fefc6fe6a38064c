//! Everything that runs only on the server (compiled with the `ssr` feature).
//!
//! - [`config`]: settings, read once from the environment or flags. [`access`]: the token layer
//!   over every `/api` route, and the topic policy.
//! - [`startup`]: builds the parts, serves, and shuts down in order; [`router::app`] is the router,
//!   [`http`] the listener and connection loop; [`shutdown`] the one signal every task obeys.
//! - [`send`]: the send core both doors call; [`idempotency`]: the `Idempotency-Key` gate in front
//!   of it; [`batch`]: many records in one request through it; [`room_wait`]: waiting for room in
//!   a full queue or store. [`status_table`]: where statuses are recorded and read;
//!   [`shared_state`]: the table every replica shares through a Kafka topic; [`status_store`]:
//!   the bounded local view. [`state`]: what every handler reaches.
//! - [`kafka`]: the seam under the core, producers, topics, the embedded broker and its health.
//! - [`lab`]: the lab core, lab runs and the read-back verifier; [`fault_proxy`]: the Kafka-aware
//!   proxy that injects the lab's faults in front of any cluster.
//! - [`rest`]: the REST door (problem+json errors). [`ui_api`]: the server functions' door.
//!   [`pages`]: the pages and server-function routes.
//! - [`metrics`]: Prometheus `/metrics`. [`allocator`]: jemalloc, giving freed memory back.
//! - [`telemetry`]: the service's logs.

pub mod access;
pub mod allocator;
pub mod batch;
pub mod config;
pub mod fault_proxy;
pub mod http;
pub mod idempotency;
pub mod kafka;
pub mod lab;
pub mod metrics;
pub mod pages;
pub mod rest;
pub mod room_wait;
pub mod router;
pub mod send;
pub mod shared_state;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod status_store;
pub mod status_table;
pub mod telemetry;
pub mod ui_api;
