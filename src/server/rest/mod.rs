//! The REST door: the seed's contract (`/health`, `/api/v1/send`, `/api/v1/status`) plus
//! readiness and the lab, each a thin translation from HTTP to the send core and back.

mod batches;
pub mod body;
mod json;
mod lab;
pub mod openapi;
mod problem;
mod query;
pub mod record_body;

pub use problem::{problem_body, PROBLEM_CONTENT_TYPE};
pub use query::QueryParams;

use body::NoBody;
use record_body::RecordBody;

use crate::error::AppError;
use crate::model::{BrokerInfo, SendAccepted, SendOutcome, SendReceipt, SendStatus};
use crate::server::idempotency::{key_from_headers, IDEMPOTENT_REPLAYED_HEADER};
use crate::server::state::AppState;
use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::BoxError;
use axum::{Json, Router};
use problem::Problem;
use std::time::Duration;
use tower::ServiceBuilder;

/// Whether a path belongs to the REST door (problem+json errors) rather than to the server
/// functions (typed errors): `/api/v1/...` and the OpenAPI document.
pub fn is_rest_path(path: &str) -> bool {
    path.starts_with("/api/v1/") || path == "/api/v1" || path == "/api/openapi.json"
}

pub fn routes(request_timeout: Duration) -> Router<AppState> {
    // Sends and reads are bounded by the delivery timeout inside the core; this is the net
    // under it. Lab runs are bounded by their own run and are left out.
    let bounded = Router::new()
        .route("/api/v1/send", post(send))
        .route("/api/v1/status", get(status))
        .route("/api/v1/recent", get(recent))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: BoxError| async {
                    AppError::Timeout { message: "The request took longer than the service allows".into() }
                }))
                .timeout(request_timeout),
        );
    let api = bounded.merge(lab::routes()).merge(batches::routes()).route("/api/{*rest}", any(unknown_api_path));
    Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi_json))
        .merge(api)
}

async fn unknown_api_path(uri: Uri) -> AppError {
    AppError::not_found(format!(
        "No API endpoint at {}: see /api/v1/send, /api/v1/status, /api/v1/recent, /api/v1/batches, /api/v1/lab/runs",
        uri.path()
    ))
}

/// For every route of the service (REST and server functions alike).
pub async fn method_not_allowed(method: Method, uri: Uri) -> AppError {
    AppError::Rejected { status: 405, message: format!("{method} is not allowed on {}", uri.path()) }
}

/// Prometheus text format. Open like the health checks: it carries counts, no secrets.
async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}

/// The OpenAPI 3.1 description of this API.
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    Json(openapi::ApiDoc::openapi())
}

/// Liveness: the process serves HTTP, whatever the broker does.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The process serves HTTP", body = String, content_type = "text/plain")))]
pub(super) async fn health() -> &'static str {
    "OK"
}

/// Readiness: 200 once the broker answers, 503 with the reason until then.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses(
    (status = 200, description = "The broker answers", body = BrokerInfo),
    (status = 503, description = "Not ready, with the reason", body = Problem, content_type = "application/problem+json"),
))]
async fn ready(State(state): State<AppState>) -> Response {
    let info = state.broker_info().await;
    if info.ready {
        Json(info).into_response()
    } else {
        AppError::Unavailable { message: info.reason.unwrap_or_else(|| "the broker is not ready".into()) }
            .into_response()
    }
}

/// Sends one event (the seed tutorial's contract).
#[utoipa::path(post, path = "/api/v1/send", tag = "send", params(openapi::SendQuery, openapi::IdempotencyKeyHeader), responses(
    (status = 200, description = "sync: the broker acknowledged the record (or, with Idempotent-Replayed, the recorded answer of the first request with this Idempotency-Key)", body = SendReceipt,
        headers(("Idempotent-Replayed" = String, description = "'true' when this is the recorded answer to an earlier request with the same Idempotency-Key: nothing was sent again"))),
    (status = 202, description = "async: accepted; the status follows at Location", body = SendAccepted,
        headers(("Location" = String, description = "/api/v1/status?requestId=..."),
                ("Idempotent-Replayed" = String, description = "'true' on a replayed answer"))),
    (status = 400, description = "Invalid request (or a malformed Idempotency-Key, or none while REQUIRE_IDEMPOTENCY_KEY is on): the detail says what to fix", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "API_TOKEN is set and the bearer token is missing or wrong", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "The topic is not in ALLOWED_TOPICS", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "A sync request with the same Idempotency-Key is still in progress: retry after Retry-After seconds to get its answer", body = Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u32, description = "seconds"))),
    (status = 422, description = "The Idempotency-Key was first used with other parameters: the detail says which differ", body = Problem, content_type = "application/problem+json"),
    (status = 502, description = "Kafka refused or failed the record", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "The producer's queue is full (Retry-After) or the broker is unreachable", body = Problem, content_type = "application/problem+json"),
    (status = 504, description = "No acknowledgement within KAFKA_DELIVERY_TIMEOUT_MS", body = Problem, content_type = "application/problem+json"),
))]
async fn send(State(state): State<AppState>, headers: HeaderMap, query: QueryParams, body: RecordBody) -> Response {
    let key = match key_from_headers(&headers, &state.access) {
        Ok(key) => key,
        Err(error) => return error.into_response(),
    };
    let answer = state.gate.send_with(&query.send_params(), body.0, key).await;
    let mut response = match answer.result {
        Ok(SendOutcome::Delivered(receipt)) => Json(receipt).into_response(),
        Ok(SendOutcome::Accepted(accepted)) => {
            let location = format!("/api/v1/status?requestId={}", accepted.request_id);
            (StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(accepted)).into_response()
        }
        Err(error) => error.into_response(),
    };
    if answer.replayed {
        response.headers_mut().insert(IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

/// What happened to a send.
#[utoipa::path(get, path = "/api/v1/status", tag = "send", params(openapi::StatusQuery), responses(
    (status = 200, description = "The send's status", body = SendStatus),
    (status = 400, description = "Missing or malformed requestId", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "Unknown or evicted requestId (this replica's view holds everything written before the lookup)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "Not known to this replica, which could not catch up with the state topic within STATE_CATCH_UP_MS: the send may exist; retry after Retry-After seconds (type statuses-catching-up)", body = Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u32, description = "seconds"))),
))]
async fn status(State(state): State<AppState>, query: QueryParams, _: NoBody) -> Result<Response, AppError> {
    let id = query.get("requestId");
    Ok(Json(state.send.status(id.as_deref()).await?).into_response())
}

/// The last 50 sends, newest first.
#[utoipa::path(get, path = "/api/v1/recent", tag = "send", responses(
    (status = 200, description = "Recent sends", body = Vec<SendStatus>),
))]
async fn recent(State(state): State<AppState>) -> Response {
    Json(state.send.recent()).into_response()
}
