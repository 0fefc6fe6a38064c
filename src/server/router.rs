//! The whole HTTP surface as one router: REST, server functions, pages and static files, behind
//! the one access layer and the panic net. Tests drive it directly ([`app`]), over the real
//! Kafka parts or the in-memory ones.

use super::access::guard_api;
use super::state::AppState;
use super::{pages, rest, ui_api};
use crate::error::AppError;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware;
use axum::response::IntoResponse;
use axum::Router;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;

/// Every answer names the replica that gave it.
pub const SERVED_BY: &str = "x-served-by";

/// `request_timeout` bounds sends and reads (the net under the core's own delivery bound).
pub fn app(state: AppState, request_timeout: Duration) -> Router {
    let served_by = HeaderValue::from_str(state.send.table().replica()).unwrap_or(HeaderValue::from_static("unnamed"));
    Router::new()
        .merge(rest::routes(request_timeout))
        .merge(pages::routes(&state))
        .method_not_allowed_fallback(rest::method_not_allowed)
        .layer(middleware::from_fn(ui_api::server_fn_error_status))
        .layer(middleware::from_fn_with_state(state.access.clone(), guard_api))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            AppError::internal("the request handler panicked; see the service log").into_response()
        }))
        .layer(SetResponseHeaderLayer::overriding(HeaderName::from_static(SERVED_BY), served_by))
        .with_state(state)
}
