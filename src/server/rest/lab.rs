//! The lab's REST endpoints: runs (`/api/v1/lab/runs`) and the proxy's fault (`/api/v1/lab/fault`).

use super::json::ApiJson;
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
async fn run(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LabRunRequest>,
) -> Result<Json<LabRunReport>, AppError> {
    let record = state.lab.enqueue(&request)?;
    let report = state.lab.spawn(record).await.map_err(|e| AppError::internal(format!("the lab run failed: {e}")))?;
    Ok(Json(report))
}

async fn list_runs(State(state): State<AppState>) -> Json<Vec<LabRunReport>> {
    Json(state.lab.list())
}

async fn get_run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<LabRunReport>, AppError> {
    state.lab.get(&id).map(Json).ok_or_else(|| AppError::not_found(format!("No lab run with id '{id}'")))
}

async fn get_fault(State(state): State<AppState>) -> Json<FaultStatus> {
    Json(state.lab.fault_status())
}

async fn put_fault(
    State(state): State<AppState>,
    ApiJson(fault): ApiJson<FaultInput>,
) -> Result<Json<FaultStatus>, AppError> {
    state.lab.set_fault(&fault.spec()).map(Json)
}

async fn clear_fault(State(state): State<AppState>) -> Result<Json<FaultStatus>, AppError> {
    state.lab.set_fault(&FaultSpec::of(FaultKind::None)).map(Json)
}
