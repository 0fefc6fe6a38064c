//! producer-reliability: send events to Kafka through a plain and an idempotent producer,
//! synchronously or not, and see what happened to every one.
//!
//! Map of the crate:
//! - [`model`]: requests, modes, statuses and their validation, shared by server and browser.
//! - [`error`]: the one error type both doors (REST, server functions) translate.
//! - [`server_fns`]: the server functions the UI calls (same core as REST).
//! - [`app`]: the Leptos application (page shell and routes); [`ui`]: its components.
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

/// Entry point of the WASM bundle: attaches the page the server rendered to its reactive code.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
