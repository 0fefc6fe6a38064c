//! Everything that runs only on the server (compiled with the `ssr` feature).
//!
//! - [`config`]: settings, read once from the environment or flags. [`access`]: token and topic policy.
//! - [`startup`]: builds the parts, serves, and shuts down in order; [`startup::app`] is the router.
//! - [`send`]: the send core both doors call. [`status_store`]: bounded statuses.
//! - [`kafka`]: producers, topics, the embedded broker and its health.
//! - [`lab`]: the fault proxy, lab runs and the read-back verifier.
//! - [`rest`]: the REST door (problem+json errors). [`metrics`]: Prometheus `/metrics`.
//! - [`memory`]: gives a burst's freed memory back to the system.
//! - [`pages`]: the pages and server-function routes. [`ui_api`]: the server side of the server functions.
//! - [`telemetry`]: the service's logs.

pub mod access;
pub mod config;
pub mod kafka;
pub mod lab;
pub mod memory;
pub mod metrics;
pub mod pages;
pub mod rest;
pub mod send;
pub mod startup;
pub mod state;
pub mod status_store;
pub mod telemetry;
pub mod ui_api;
