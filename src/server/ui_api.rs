//! The server side of the server functions: reaches the shared state and calls the same cores as
//! the REST door (send, lab); errors keep their typed shape, with the HTTP status each
//! [`AppError`] carries, decided in one place. The token is checked before any of this runs, by
//! `access::guard_api`, whose verdict [`state`] enforces for calls made while a page renders.

use super::access::AccessVerdict;
use super::lab::Wait;
use super::state::AppState;
use crate::error::AppError;
use crate::model::{
    parse_idempotency_key, parse_record_text, BatchAnswer, BrokerInfo, FaultParams, FaultStatus, Field, LabParams,
    LabRunReport, SendAnswer, SendParams, SendStatus,
};
use crate::server::batch::input::RecordInput;
use crate::server::idempotency::{key_from_headers, ScopedKey};
use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leptos::prelude::*;
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;

/// The one way a server function reaches the application: only with the access layer's
/// verdict granted (an HTTP call that was refused never gets here; a page rendered without the
/// token gets 401 for the data it would show). No verdict at all reads as refused.
fn state() -> Result<AppState, AppError> {
    let state = use_context::<AppState>().ok_or_else(|| AppError::internal("the application state is missing"))?;
    if state.access.requires_token() {
        let verdict = use_context::<Parts>().and_then(|p| p.extensions.get::<AccessVerdict>().cloned());
        match verdict {
            Some(AccessVerdict(Ok(()))) => {}
            Some(AccessVerdict(Err(refused))) => return Err(refused),
            None => {
                return Err(AppError::Unauthorized {
                    message: "This service requires 'Authorization: Bearer <API_TOKEN>'".into(),
                })
            }
        }
    }
    Ok(state)
}

/// A browser's plain form post (no JavaScript): it must get a redirect, not a status code.
fn is_form_post() -> bool {
    use_context::<Parts>()
        .and_then(|p| p.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(|v| v.contains("text/html")))
        .unwrap_or(false)
}

/// A typed error as a server function answers it: its JSON, with its status and headers.
pub fn error_response(error: AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&error).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, body).into_response();
    decorate(response.headers_mut(), &error);
    response
}

fn decorate(headers: &mut axum::http::HeaderMap, error: &AppError) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(secs) = error.retry_after_secs() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
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
        decorate(&mut parts.headers, &error);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A server function's body is bounded like a REST one: a declared oversize is drained and
/// refused with 413, and a body without a declared length stops being read at the limit.
pub async fn server_fn_body_limit(request: Request, next: Next) -> Response {
    use crate::server::rest::body::{read_limited, BODY_LIMIT};
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return match read_limited(request, BODY_LIMIT).await {
            Err(refused) => error_response(refused),
            Ok(_) => error_response(AppError::internal("an oversized body was read whole")),
        };
    }
    next.run(request.map(|body| Body::new(http_body_util::Limited::new(body, BODY_LIMIT)))).await
}

/// The key comes from the `Idempotency-Key` header, else the form's `idempotency_key` field.
pub async fn send_event(
    params: SendParams,
    field_key: Option<String>,
    (value, headers): (String, String),
) -> Result<SendAnswer, AppError> {
    let content = parse_record_text(&value, &headers)?;
    let state = state()?;
    let headers = use_context::<Parts>().map(|p| p.headers).unwrap_or_default();
    let key = match key_from_headers(&headers, &state.access)? {
        Some(key) => Some(key),
        None => match field_key.as_deref().filter(|k| !k.is_empty()) {
            Some(raw) => Some(ScopedKey::new(&state.access.key_scope(&headers), &parse_idempotency_key(raw)?)),
            None => None,
        },
    };
    let answer = state.gate.send_with(&params, content, key).await;
    let outcome = answer.result?;
    if is_form_post() {
        leptos_axum::redirect(&format!("/?sent={}", outcome.request_id()));
    }
    Ok(SendAnswer { outcome, replayed: answer.replayed })
}

/// A batch of `count` events with the seed's value; the answer keeps only the failed records.
pub async fn send_batch(params: SendParams, count: Option<String>) -> Result<BatchAnswer, AppError> {
    let state = state()?;
    let max = state.batches.max_records();
    let count = count.as_deref().map(str::trim).filter(|c| !c.is_empty()).unwrap_or("100");
    let count = match count.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => n,
        _ => return Err(AppError::invalid(Field::Count, format!("count must be 1 to {max} (BATCH_MAX_RECORDS)"))),
    };
    let prefix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let records = (0..count).map(|i| Ok(Ok(RecordInput::event(format!("batch-{prefix}-{:05}", i + 1)))));
    let mut answer = state.batches.run(params, futures::stream::iter(records)).await?;
    answer.results.retain(|r| r.error.is_some());
    Ok(answer)
}

pub async fn get_status(request_id: Option<String>) -> Result<SendStatus, AppError> {
    state()?.send.status(request_id.as_deref()).await
}

pub fn recent_sends() -> Result<Vec<SendStatus>, AppError> {
    Ok(state()?.send.recent())
}

pub async fn broker_info() -> Result<BrokerInfo, AppError> {
    Ok(state()?.broker_info().await)
}

/// The run is queued and answered at once; the page polls [`lab_runs`] for its progress.
pub async fn start_lab_run(params: LabParams) -> Result<LabRunReport, AppError> {
    state()?.lab.start(&params, Wait::No).await
}

pub fn lab_runs() -> Result<Vec<LabRunReport>, AppError> {
    Ok(state()?.lab.list())
}

pub fn fault_status() -> Result<FaultStatus, AppError> {
    Ok(state()?.lab.fault_status())
}

pub fn set_fault(params: FaultParams) -> Result<FaultStatus, AppError> {
    state()?.lab.set_fault(&params)
}
