//! The REST door's error shape: every [`AppError`] becomes an RFC 9457 problem+json answer,
//! here and nowhere else.

use crate::error::AppError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem: every error of the REST API has this shape.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URN naming the kind of problem, e.g. `urn:producer-reliability:problem:invalid-request`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    /// What went wrong and what to fix.
    pub detail: String,
    /// The request parameter at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl Problem {
    fn of(error: &AppError) -> Self {
        Problem {
            kind: format!("urn:producer-reliability:problem:{}", error.slug()),
            title: error.title(),
            status: error.status(),
            detail: error.to_string(),
            field: error.field().map(|f| f.as_str()),
        }
    }
}

/// The problem+json body of an error.
pub fn problem_body(error: &AppError) -> Vec<u8> {
    serde_json::to_vec(&Problem::of(error)).unwrap_or_else(|_| b"{}".to_vec())
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), kind = self.slug(), detail = %self, "request failed");
        }
        let mut response = (status, problem_body(&self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        if let Some(secs) = self.retry_after_secs() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        match &self {
            AppError::Unauthorized { .. } => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            AppError::Rejected { status: 413, .. } => {
                // Whatever the client still had to send was drained or the connection ends here.
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}
