//! The body of `POST /api/v1/send`: none (the seed's synthetic value), JSON
//! `{"value": <any JSON>, "headers": {"name": "text"}}`, or any other content type taken as the
//! raw value bytes (its `Content-Type` kept as a record header). Bounded by the producers'
//! `message.max.bytes`: past it, 413 naming the limit, and nothing is sent.

use super::body::read_limited;
use crate::error::AppError;
use crate::model::{Field, RecordContent};
use crate::server::state::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Room for the JSON envelope and headers around a value of the largest size.
const ENVELOPE: usize = 64 * 1024;

/// The caller's record, if the request carried one.
pub struct RecordBody(pub Option<RecordContent>);

/// `{"value": ..., "headers": {...}}`: the value kept byte for byte as the caller wrote it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRecord {
    value: Box<RawValue>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// True for `application/json` and `application/<x>+json`, whatever the parameters.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The caller's record from a JSON envelope.
pub fn parse_json_record(body: &[u8]) -> Result<RecordContent, AppError> {
    let record: JsonRecord = serde_json::from_slice(body).map_err(|e| {
        AppError::invalid(
            Field::Value,
            format!("The JSON body must be {{\"value\": <any JSON>, \"headers\": {{\"name\": \"text\"}}}}: {e}"),
        )
    })?;
    Ok(RecordContent { value: record.value.get().as_bytes().to_vec(), headers: record.headers })
}

impl FromRequest<AppState> for RecordBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let max = state.send.max_value_bytes();
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = read_limited(req, max + ENVELOPE).await.map_err(|e| match e {
            AppError::Rejected { status: 413, .. } => AppError::Rejected {
                status: 413,
                message: format!("The record value is larger than {max} bytes (the producer's message.max.bytes)"),
            },
            other => other,
        })?;
        if body.is_empty() {
            return Ok(RecordBody(None));
        }
        let content = match content_type.as_deref() {
            Some(ct) if is_json(ct) => parse_json_record(&body)?,
            Some(ct) => RecordContent {
                value: body.to_vec(),
                headers: BTreeMap::from([("content-type".to_owned(), ct.to_owned())]),
            },
            None => RecordContent { value: body.to_vec(), headers: BTreeMap::new() },
        };
        Ok(RecordBody(Some(content)))
    }
}
