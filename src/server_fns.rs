//! Server functions: the browser's door to the same send core as the REST API, at stable
//! paths under `/api/` (`/api/send`, `/api/status`, `/api/recent`, `/api/broker`, `/api/lab/...`).
//! Each body only hands over to `server::ui_api` (ssr-only code); errors arrive typed as
//! [`AppError`]. The token is checked for all of them by one layer (`server::access::guard_api`).

// A server function's arguments are its form's fields, one each: the send form has nine.
#![allow(clippy::too_many_arguments)]

use crate::error::AppError;
use crate::model::{BatchAnswer, BrokerInfo, FaultStatus, LabRunReport, SendAnswer, SendStatus};
use crate::ui::token::TokenClient;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// Sends one event. Form-encoded, so a plain HTML form post works without JavaScript (the
/// server then redirects back to the page with `?sent=<requestId>`). An `Idempotency-Key`
/// header, or the `idempotency_key` field, makes a repeat of the same submission send nothing.
#[server(prefix = "/api", endpoint = "send", client = TokenClient)]
pub async fn send_event(
    mode: Option<String>,
    event_id: Option<String>,
    topic: Option<String>,
    send_mode: Option<String>,
    key: Option<String>,
    partition: Option<String>,
    idempotency_key: Option<String>,
    value: Option<String>,
    headers: Option<String>,
) -> Result<SendAnswer, AppError> {
    let params = crate::model::SendParams { mode, event_id, topic, send_mode, key, partition };
    let record = (value.unwrap_or_default(), headers.unwrap_or_default());
    crate::server::ui_api::send_event(params, idempotency_key, record).await
}

/// Sends `count` events in one batch (the seed's value each, event ids `<prefix>-00001`...):
/// the answer counts them and lists the records that failed.
#[server(prefix = "/api", endpoint = "batch", client = TokenClient)]
pub async fn send_batch(
    mode: Option<String>,
    send_mode: Option<String>,
    topic: Option<String>,
    count: Option<String>,
) -> Result<BatchAnswer, AppError> {
    let params = crate::model::SendParams { mode, send_mode, topic, ..Default::default() };
    crate::server::ui_api::send_batch(params, count).await
}

/// The status of one send, by request id.
#[server(prefix = "/api", endpoint = "status", input = GetUrl, client = TokenClient)]
pub async fn get_status(request_id: Option<String>) -> Result<SendStatus, AppError> {
    crate::server::ui_api::get_status(request_id).await
}

/// The last sends of this server, newest first.
#[server(prefix = "/api", endpoint = "recent", input = GetUrl, client = TokenClient)]
pub async fn recent_sends() -> Result<Vec<SendStatus>, AppError> {
    crate::server::ui_api::recent_sends()
}

/// Which broker the service uses, whether it answers, and its topics.
#[server(prefix = "/api", endpoint = "broker", input = GetUrl, client = TokenClient)]
pub async fn describe_broker() -> Result<BrokerInfo, AppError> {
    crate::server::ui_api::broker_info().await
}

/// Queues a lab run and answers at once with its (queued) report; poll [`lab_runs`] for progress.
#[server(prefix = "/api", endpoint = "lab/start", client = TokenClient)]
pub async fn start_lab_run(
    mode: Option<String>,
    count: Option<String>,
    send_mode: Option<String>,
    fault: Option<String>,
    delay_ms: Option<String>,
    produce_requests: Option<String>,
    duration_ms: Option<String>,
) -> Result<LabRunReport, AppError> {
    let params = crate::model::LabParams { mode, count, send_mode, fault, delay_ms, produce_requests, duration_ms };
    crate::server::ui_api::start_lab_run(params).await
}

/// Past and current lab runs, newest first.
#[server(prefix = "/api", endpoint = "lab/runs", input = GetUrl, client = TokenClient)]
pub async fn lab_runs() -> Result<Vec<LabRunReport>, AppError> {
    crate::server::ui_api::lab_runs()
}

/// The fault the proxy applies now to every producer behind it.
#[server(prefix = "/api", endpoint = "lab/fault", input = GetUrl, client = TokenClient)]
pub async fn current_fault() -> Result<FaultStatus, AppError> {
    crate::server::ui_api::fault_status()
}

/// Switches a fault on for every producer behind the proxy (`none` switches it off).
#[server(prefix = "/api", endpoint = "lab/fault/set", client = TokenClient)]
pub async fn set_fault(
    fault: Option<String>,
    delay_ms: Option<String>,
    produce_requests: Option<String>,
    duration_ms: Option<String>,
) -> Result<FaultStatus, AppError> {
    let params = crate::model::FaultParams { fault, delay_ms, produce_requests, duration_ms };
    crate::server::ui_api::set_fault(params)
}
