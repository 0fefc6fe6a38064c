//! producer-reliability: send events to Kafka through a plain and an idempotent producer,
//! synchronously or not, and see what happened to every one.
//!
//! Map of the crate:
//! - [`model`]: requests, modes, statuses and their validation, shared by server and browser.
//! - [`error`]: the one error type both doors (REST, server functions) translate.
//! - [`server_fns`]: the server functions the UI calls (same core as REST).
//! - [`app`]: the Leptos application (page shell and the pages' roots); [`ui`]: its components.
//! - `hydrate` (feature `hydrate`): the browser's entry point.
//! - `server` (feature `ssr`): configuration, Kafka, the send core, REST, start-up.

// Leptos views are deeply nested types; the Lab page's exceed the default query depth.
#![recursion_limit = "256"]

pub mod app;
pub mod error;
pub mod model;
pub mod server_fns;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
pub mod hydrate;
