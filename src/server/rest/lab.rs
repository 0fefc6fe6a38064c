//! The lab's REST endpoints: runs (`/api/v1/lab/runs`) and the proxy's fault (`/api/v1/lab/fault`).
//! A JSON body is only translated into the lab service's text input ([`LabParams`],
//! [`FaultParams`]), so REST and the server functions answer with the same checks and messages.

use super::json::ApiJson;
use super::problem::Problem;
use super::query::QueryParams;
use crate::error::AppError;
use crate::model::{FaultInput, FaultParams, FaultStatus, LabParams, LabRunReport, LabRunRequest};
use crate::server::lab::Wait;
use crate::server::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/lab/runs", get(list_runs).post(run))
        .route("/api/v1/lab/runs/{id}", get(get_run))
        .route("/api/v1/lab/fault", get(get_fault).put(put_fault).delete(clear_fault))
}

/// A JSON scalar given where text is validated: `200` and `"200"` read the same.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

fn text(value: Option<Scalar>) -> Option<String> {
    value.map(|v| match v {
        Scalar::Text(s) => s,
        Scalar::Number(n) => n.to_string(),
        Scalar::Bool(b) => b.to_string(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct FaultObject {
    kind: Option<Scalar>,
    delay_ms: Option<Scalar>,
    produce_requests: Option<Scalar>,
    duration_ms: Option<Scalar>,
}

/// `"fault"`: a name or an object.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum FaultBody {
    Name(String),
    Object(FaultObject),
}

impl FaultBody {
    fn params(self) -> FaultParams {
        match self {
            FaultBody::Name(name) => FaultParams { fault: Some(name), ..Default::default() },
            FaultBody::Object(o) => FaultParams {
                fault: text(o.kind),
                delay_ms: text(o.delay_ms),
                produce_requests: text(o.produce_requests),
                duration_ms: text(o.duration_ms),
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LabRunBody {
    mode: Option<Scalar>,
    count: Option<Scalar>,
    send_mode: Option<Scalar>,
    fault: Option<FaultBody>,
}

impl LabRunBody {
    fn params(self) -> LabParams {
        let fault = self.fault.map(FaultBody::params).unwrap_or_default();
        LabParams {
            mode: text(self.mode),
            count: text(self.count),
            send_mode: text(self.send_mode),
            fault: fault.fault,
            delay_ms: fault.delay_ms,
            produce_requests: fault.produce_requests,
            duration_ms: fault.duration_ms,
        }
    }
}

/// Runs a lab run. By default the answer waits for the result (200, the run goes on if the
/// caller leaves); with `?wait=false` it is 202 at once, with the run's `Location` to poll.
#[utoipa::path(post, path = "/api/v1/lab/runs", tag = "lab", request_body = LabRunRequest,
    params(("wait" = Option<bool>, Query, description = "false: answer 202 at once (default true: the finished run)")),
    responses(
    (status = 200, description = "The finished run", body = LabRunReport),
    (status = 202, description = "The queued run (wait=false); poll Location", body = LabRunReport,
        headers(("Location" = String, description = "/api/v1/lab/runs/{id}"))),
    (status = 400, description = "Invalid run request", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The fault needs the embedded broker", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
))]
pub(super) async fn run(
    State(state): State<AppState>,
    query: QueryParams,
    ApiJson(body): ApiJson<LabRunBody>,
) -> Result<Response, AppError> {
    let wait = match query.get("wait").as_deref().map(str::trim) {
        None | Some("") | Some("true") => Wait::ForResult,
        Some("false") => Wait::No,
        Some(other) => {
            return Err(AppError::Invalid {
                field: None,
                message: format!("wait must be true or false, got '{}'", other.escape_debug()),
            })
        }
    };
    let report = state.lab.start(&body.params(), wait).await?;
    Ok(match wait {
        Wait::ForResult => Json(report).into_response(),
        Wait::No => {
            let location = format!("/api/v1/lab/runs/{}", report.id);
            (StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(report)).into_response()
        }
    })
}

/// Past and current runs, newest first, with their progress.
#[utoipa::path(get, path = "/api/v1/lab/runs", tag = "lab", responses(
    (status = 200, description = "Runs", body = Vec<LabRunReport>),
))]
pub(super) async fn list_runs(State(state): State<AppState>) -> Json<Vec<LabRunReport>> {
    Json(state.lab.list())
}

/// One run.
#[utoipa::path(get, path = "/api/v1/lab/runs/{id}", tag = "lab", params(("id" = String, Path, description = "Run id")), responses(
    (status = 200, description = "The run", body = LabRunReport),
    (status = 404, description = "No such run among the last 100 of any replica", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "Not known to this replica, which could not catch up with the state topic within STATE_CATCH_UP_MS: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u32, description = "seconds"))),
))]
pub(super) async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LabRunReport>, AppError> {
    state.lab.get(&id).await.map(Json)
}

/// The fault the proxy applies now.
#[utoipa::path(get, path = "/api/v1/lab/fault", tag = "lab", responses(
    (status = 200, description = "The current fault", body = FaultStatus),
))]
pub(super) async fn get_fault(State(state): State<AppState>) -> Json<FaultStatus> {
    Json(state.lab.fault_status())
}

/// Switches a fault on for every send behind the proxy.
#[utoipa::path(put, path = "/api/v1/lab/fault", tag = "lab", request_body = FaultInput, responses(
    (status = 200, description = "The fault now in effect", body = FaultStatus),
    (status = 400, description = "Invalid fault", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "No proxy: external cluster", body = Problem, content_type = "application/problem+json"),
))]
pub(super) async fn put_fault(
    State(state): State<AppState>,
    ApiJson(fault): ApiJson<FaultBody>,
) -> Result<Json<FaultStatus>, AppError> {
    state.lab.set_fault(&fault.params()).map(Json)
}

/// Switches the fault off.
#[utoipa::path(delete, path = "/api/v1/lab/fault", tag = "lab", responses(
    (status = 200, description = "No fault", body = FaultStatus),
    (status = 409, description = "No proxy: external cluster", body = Problem, content_type = "application/problem+json"),
))]
pub(super) async fn clear_fault(State(state): State<AppState>) -> Result<Json<FaultStatus>, AppError> {
    state.lab.clear_fault().map(Json)
}
