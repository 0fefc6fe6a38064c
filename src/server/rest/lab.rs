//! The lab's REST endpoints: runs (`/api/v1/lab/runs`) and the proxy's fault (`/api/v1/lab/fault`).

use super::json::ApiJson;
use super::problem::Problem;
use crate::error::AppError;
use crate::model::{FaultInput, FaultKind, FaultSpec, FaultStatus, LabRunReport, LabRunRequest};
use crate::server::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/lab/runs", get(list_runs).post(run))
        .route("/api/v1/lab/runs/{id}", get(get_run))
        .route("/api/v1/lab/fault", get(get_fault).put(put_fault).delete(clear_fault))
}

/// Runs to completion and answers with the result (the run goes on if the caller leaves).
#[utoipa::path(post, path = "/api/v1/lab/runs", tag = "lab", request_body = LabRunRequest, responses(
    (status = 200, description = "The finished run", body = LabRunReport),
    (status = 400, description = "Invalid run request", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "The fault needs the embedded broker", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
))]
pub(super) async fn run(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LabRunRequest>,
) -> Result<Json<LabRunReport>, AppError> {
    let record = state.lab.enqueue(&request)?;
    let report = state.lab.spawn(record).await.map_err(|e| AppError::internal(format!("the lab run failed: {e}")))?;
    Ok(Json(report))
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
    (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
))]
pub(super) async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LabRunReport>, AppError> {
    state.lab.get(&id).map(Json).ok_or_else(|| AppError::not_found(format!("No lab run with id '{id}'")))
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
    ApiJson(fault): ApiJson<FaultInput>,
) -> Result<Json<FaultStatus>, AppError> {
    state.lab.set_fault(&fault.spec()).map(Json)
}

/// Switches the fault off.
#[utoipa::path(delete, path = "/api/v1/lab/fault", tag = "lab", responses(
    (status = 200, description = "No fault", body = FaultStatus),
    (status = 409, description = "No proxy: external cluster", body = Problem, content_type = "application/problem+json"),
))]
pub(super) async fn clear_fault(State(state): State<AppState>) -> Result<Json<FaultStatus>, AppError> {
    state.lab.set_fault(&FaultSpec::of(FaultKind::None)).map(Json)
}
