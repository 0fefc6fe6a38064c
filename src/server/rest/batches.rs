//! The REST door to the batch core: `POST /api/v1/batches` (a JSON batch read whole, within
//! `BATCH_MAX_BYTES`, or NDJSON streamed line by line with the batch's parameters in the query
//! string) and `GET /api/v1/batches/{id}` for an async batch.

use super::body::{read_limited, NoBody};
use super::problem::Problem;
use super::record_body::is_json;
use super::QueryParams;
use crate::error::AppError;
use crate::model::{BatchAnswer, BatchStatus, Field, SendMode};
use crate::server::batch::input::{ndjson_records, parse_record, JsonBatch};
use crate::server::idempotency::IDEMPOTENCY_KEY_HEADER;
use crate::server::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

/// Room for a record line's envelope around its largest value.
const LINE_ENVELOPE: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/batches", post(create)).route("/api/v1/batches/{id}", get(status))
}

/// True for `application/x-ndjson`, `application/ndjson` and `application/jsonl`.
fn is_ndjson(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(essence.as_str(), "application/x-ndjson" | "application/ndjson" | "application/jsonl")
}

/// Sends a batch of records, each validated and answered on its own.
#[utoipa::path(post, path = "/api/v1/batches", tag = "send", request_body(content = String, description =
    "application/json: {\"mode\", \"sendMode\"?, \"topic\"?, \"records\": [{\"eventId\", \"key\"?, \"partition\"?, \"value\"?, \"headers\"?}]}, \
     at most BATCH_MAX_BYTES; or application/x-ndjson: one record per line, streamed, with mode, sendMode and topic in the query string"),
    responses(
    (status = 200, description = "sync: every record's delivery report came; results in order (requestId, partition, offset, or the error)", body = BatchAnswer),
    (status = 202, description = "async: every record accepted or refused; follow the batch at Location", body = BatchAnswer,
        headers(("Location" = String, description = "/api/v1/batches/{batchId}"))),
    (status = 400, description = "The batch's mode, sendMode or topic is invalid, or the body is not a batch", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "More than BATCH_MAX_RECORDS records, a JSON body over BATCH_MAX_BYTES, or an NDJSON line over the value limit", body = Problem, content_type = "application/problem+json"),
))]
async fn create(State(state): State<AppState>, query: QueryParams, request: Request) -> Result<Response, AppError> {
    if request.headers().contains_key(IDEMPOTENCY_KEY_HEADER) {
        return Err(AppError::invalid(
            Field::IdempotencyKey,
            "Idempotency-Key is honoured on /api/v1/send only, not on batches: send the records one by one with \
             their keys, or de-duplicate on the records' own eventIds",
        ));
    }
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let answer = if is_ndjson(content_type) {
        let max_line = state.batches.max_value_bytes() + LINE_ENVELOPE;
        let records = ndjson_records(request.into_body().into_data_stream(), max_line);
        state.batches.run(query.send_params(), records).await?
    } else if is_json(content_type) {
        let body = read_limited(request, state.batch_max_bytes).await.map_err(|e| match e {
            AppError::Rejected { status: 413, .. } => AppError::Rejected {
                status: 413,
                message: format!(
                    "The JSON batch is larger than {} bytes (BATCH_MAX_BYTES): send it as NDJSON \
                     (Content-Type: application/x-ndjson), which streams",
                    state.batch_max_bytes
                ),
            },
            other => other,
        })?;
        let batch = JsonBatch::parse(&body)?;
        if batch.records().len() > state.batches.max_records() {
            return Err(AppError::Rejected {
                status: 413,
                message: format!(
                    "The batch has {} records; at most {} (BATCH_MAX_RECORDS): nothing was sent",
                    batch.records().len(),
                    state.batches.max_records()
                ),
            });
        }
        // Parsed up front (the body is in memory already): each record owns its value.
        let parsed: Vec<_> = batch.records().iter().map(|r| Ok(parse_record(r.get().as_bytes()))).collect();
        let params = batch.params();
        drop(batch);
        state.batches.run(params, futures::stream::iter(parsed)).await?
    } else {
        return Err(AppError::Rejected {
            status: 415,
            message: format!(
                "A batch is application/json or application/x-ndjson, not '{}'",
                content_type.escape_debug()
            ),
        });
    };
    Ok(match answer.send_mode {
        SendMode::Sync => Json(answer).into_response(),
        SendMode::Async => {
            let location = format!("/api/v1/batches/{}", answer.batch_id);
            (StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(answer)).into_response()
        }
    })
}

/// An async batch: its records counted by state, and each one's status.
#[utoipa::path(get, path = "/api/v1/batches/{id}", tag = "send", params(("id" = String, Path, description = "the batchId")),
    responses(
    (status = 200, description = "Counts by state and each record's status", body = BatchStatus),
    (status = 400, description = "Not a UUID", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "No such async batch among the last 100 (any replica's)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "Not known to this replica, which could not catch up with the state topic within STATE_CATCH_UP_MS: retry after Retry-After seconds", body = Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u32, description = "seconds"))),
))]
async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Json<BatchStatus>, AppError> {
    Ok(Json(state.batches.status(&id).await?))
}
