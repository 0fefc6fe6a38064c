//! Request bodies, bounded: read up to a limit; past it, answer 413 problem+json, but only after
//! draining what the client is still sending (up to [`DRAIN_LIMIT`], within [`DRAIN_TIME`]).
//! Closing the connection on a client that has not finished sending makes its kernel see a
//! reset, and the client never reads the 413; drained, it does.

use crate::error::AppError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use futures::StreamExt;
use std::time::Duration;

/// Largest body a JSON endpoint accepts (lab runs and the fault switch).
pub const BODY_LIMIT: usize = 64 * 1024;
/// How much of an oversized body is read and thrown away so the client reads its 413.
pub const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
/// How long draining may take.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

fn too_large(limit: usize) -> AppError {
    AppError::Rejected {
        status: 413,
        message: format!("The request body is larger than this endpoint accepts ({limit} bytes)"),
    }
}

/// Reads the whole body if it fits in `limit` bytes; else drains it (bounded) and refuses.
pub async fn read_limited(request: Request, limit: usize) -> Result<Bytes, AppError> {
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut stream = request.into_body().into_data_stream();
    if declared.is_some_and(|n| n > limit as u64) {
        drain(stream, 0).await;
        return Err(too_large(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| AppError::Invalid { field: None, message: format!("The body could not be read: {e}") })?;
        if body.len() + chunk.len() > limit {
            drain(stream, body.len() + chunk.len()).await;
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// Reads and discards the rest of a body, up to [`DRAIN_LIMIT`] in all and [`DRAIN_TIME`].
async fn drain(mut stream: axum::body::BodyDataStream, mut read: usize) {
    let drained = tokio::time::timeout(DRAIN_TIME, async {
        while read <= DRAIN_LIMIT {
            match stream.next().await {
                Some(Ok(chunk)) => read += chunk.len(),
                _ => return,
            }
        }
    })
    .await;
    if drained.is_err() || read > DRAIN_LIMIT {
        tracing::debug!(read, "stopped draining an oversized body; the connection will close");
    }
}

/// For endpoints that take everything in the query string: a body is a caller's mistake.
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let path = req.uri().path().to_owned();
        let body = read_limited(req, BODY_LIMIT).await?;
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
