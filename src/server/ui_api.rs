//! The server side of the server functions: reaches the shared state, calls the send core,
//! and maps an [`AppError`] to its HTTP status (in one place, as the REST door does).

use super::state::AppState;
use crate::error::AppError;
use crate::model::{BrokerInfo, FaultStatus, LabParams, LabRunReport, SendOutcome, SendParams, SendStatus};
use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leptos::prelude::*;
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;

/// The shared state, once the caller passed the access check (`API_TOKEN`, when set).
fn state() -> Result<AppState, AppError> {
    let state = use_context::<AppState>().ok_or_else(|| AppError::internal("the application state is missing"))?;
    if state.send.access().requires_token() {
        let headers = use_context::<Parts>().map(|p| p.headers).unwrap_or_default();
        state.send.access().check_token(&headers)?;
    }
    Ok(state)
}

/// A browser's plain form post (no JavaScript): it must get a redirect, not a status code.
fn is_form_post() -> bool {
    use_context::<Parts>()
        .and_then(|p| p.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(|v| v.contains("text/html")))
        .unwrap_or(false)
}

/// The server-function error boundary, as an axum middleware: Leptos answers every typed
/// error with a 500 and the error's JSON; this gives it the status its [`AppError`] carries
/// (400 for bad input, 503 with `Retry-After` when overloaded...), including errors raised
/// before the function ran (arguments that do not decode). The JS client decodes any 4xx/5xx.
pub async fn server_fn_error_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "unreadable server function error").into_response();
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let AppError::Overloaded { retry_after_secs, .. } = error {
            parts.headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Response::from_parts(parts, Body::from(bytes))
}

pub async fn send_event(params: SendParams) -> Result<SendOutcome, AppError> {
    let result = match state() {
        Ok(state) => state.send.send(&params).await,
        Err(e) => Err(e),
    };
    if let Ok(outcome) = &result {
        if is_form_post() {
            leptos_axum::redirect(&format!("/?sent={}", outcome.request_id()));
        }
    }
    result
}

pub fn get_status(request_id: Option<String>) -> Result<SendStatus, AppError> {
    state().and_then(|s| s.send.status(request_id.as_deref()))
}

pub fn recent_sends() -> Result<Vec<SendStatus>, AppError> {
    state().map(|s| s.send.recent())
}

pub async fn broker_info() -> Result<BrokerInfo, AppError> {
    let result = match state() {
        Ok(s) => Ok(s.broker_info().await),
        Err(e) => Err(e),
    };
    result
}

pub fn start_lab_run(params: LabParams) -> Result<LabRunReport, AppError> {
    let result = state().and_then(|s| {
        let request = params.validate()?;
        let record = s.lab.enqueue(&request)?;
        let queued = record.lock().clone();
        drop(s.lab.spawn(record));
        Ok(queued)
    });
    result
}

pub fn lab_runs() -> Result<Vec<LabRunReport>, AppError> {
    state().map(|s| s.lab.list())
}

pub fn fault_status() -> Result<FaultStatus, AppError> {
    state().map(|s| s.lab.fault_status())
}

pub fn set_fault(params: LabParams) -> Result<FaultStatus, AppError> {
    state().and_then(|s| {
        let request = params.validate()?;
        s.lab.set_fault(&request.fault.spec())
    })
}
