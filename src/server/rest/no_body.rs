//! For endpoints that take everything in the query string: a body is a caller's mistake, and
//! an oversized one is refused before it is read whole.

use crate::error::AppError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};

pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let path = req.uri().path().to_owned();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| AppError::Rejected { status: e.status().as_u16(), message: e.body_text() })?;
        if body.is_empty() {
            Ok(NoBody)
        } else {
            Err(AppError::Invalid {
                field: None,
                message: format!("{path} takes its parameters in the query string; send no request body"),
            })
        }
    }
}
