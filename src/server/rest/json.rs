//! A JSON body extractor whose refusals are problem+json with a detail that says what to fix.

use crate::error::AppError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => AppError::Rejected {
                    status: 415,
                    message: "Send the body as JSON with 'Content-Type: application/json'".into(),
                },
                JsonRejection::JsonSyntaxError(e) => {
                    AppError::Invalid { field: None, message: format!("The body is not valid JSON: {}", e.body_text()) }
                }
                JsonRejection::JsonDataError(e) => {
                    AppError::Invalid { field: None, message: format!("The body does not fit: {}", e.body_text()) }
                }
                JsonRejection::BytesRejection(e) => {
                    AppError::Rejected { status: e.status().as_u16(), message: e.body_text() }
                }
                other => AppError::Rejected { status: other.status().as_u16(), message: other.body_text() },
            }),
        }
    }
}
