//! A JSON body extractor whose refusals are problem+json with a detail that says what to fix.

use super::body::{read_limited, BODY_LIMIT};
use crate::error::AppError;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json") || m.ends_with("+json")
            });
        if !is_json {
            return Err(AppError::Rejected {
                status: 415,
                message: "Send the body as JSON with 'Content-Type: application/json'".into(),
            });
        }
        let bytes = read_limited(req, BODY_LIMIT).await?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            let message = if e.is_syntax() || e.is_eof() {
                format!("The body is not valid JSON: {e}")
            } else {
                format!("The body does not fit: {e}")
            };
            AppError::Invalid { field: None, message }
        })
    }
}
