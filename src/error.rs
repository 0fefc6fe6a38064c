//! The one error type of the service, shared by both doors: the REST API renders it as
//! problem+json, server functions send it as a typed value to the browser. Status codes and
//! titles are decided here, once.

use crate::model::{Field, ValidationError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum AppError {
    /// The request itself is wrong; `message` says what to fix.
    #[error("{message}")]
    Invalid { field: Option<Field>, message: String },
    /// The topic exists but has no such partition.
    #[error("Partition {partition} does not exist: topic '{topic}' has {partitions} partition(s), 0 to {}", partitions - 1)]
    UnknownPartition { topic: String, partition: i32, partitions: i32 },
    #[error("{message}")]
    NotFound { message: String },
    #[error("{message}")]
    Unauthorized { message: String },
    #[error("{message}")]
    Forbidden { message: String },
    /// An HTTP-level refusal (wrong method, body too large, wrong content type...).
    #[error("{message}")]
    Rejected { status: u16, message: String },
    /// librdkafka's local queue is full: the caller should retry after a pause.
    #[error("{message}")]
    Overloaded { message: String, retry_after_secs: u32 },
    /// The broker refused or failed the request; `message` carries the Kafka error.
    #[error("{message}")]
    Broker { message: String },
    /// No answer from the broker within the configured bound.
    #[error("{message}")]
    Timeout { message: String },
    /// The broker is not reachable yet, or a resource is busy.
    #[error("{message}")]
    Unavailable { message: String },
    #[error("{message}")]
    Internal { message: String },
    /// Only on the client: the server could not be reached or answered something unreadable.
    #[error("{message}")]
    Transport { message: String },
}

impl AppError {
    pub fn invalid(field: Field, message: impl Into<String>) -> Self {
        AppError::Invalid { field: Some(field), message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        AppError::NotFound { message: message.into() }
    }

    pub fn broker(message: impl Into<String>) -> Self {
        AppError::Broker { message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        AppError::Internal { message: message.into() }
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid { .. } | AppError::UnknownPartition { .. } => 400,
            AppError::Unauthorized { .. } => 401,
            AppError::Forbidden { .. } => 403,
            AppError::NotFound { .. } => 404,
            AppError::Rejected { status, .. } => *status,
            AppError::Overloaded { .. } | AppError::Unavailable { .. } => 503,
            AppError::Broker { .. } => 502,
            AppError::Timeout { .. } => 504,
            AppError::Internal { .. } | AppError::Transport { .. } => 500,
        }
    }

    /// A short, stable name for the kind of problem (problem+json `type` and `title`).
    pub fn slug(&self) -> &'static str {
        match self {
            AppError::Invalid { .. } => "invalid-request",
            AppError::UnknownPartition { .. } => "unknown-partition",
            AppError::NotFound { .. } => "not-found",
            AppError::Unauthorized { .. } => "unauthorized",
            AppError::Forbidden { .. } => "forbidden",
            AppError::Rejected { .. } => "rejected",
            AppError::Overloaded { .. } => "overloaded",
            AppError::Broker { .. } => "broker-error",
            AppError::Timeout { .. } => "broker-timeout",
            AppError::Unavailable { .. } => "unavailable",
            AppError::Internal { .. } => "internal-error",
            AppError::Transport { .. } => "transport-error",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            AppError::Invalid { .. } => "Invalid request",
            AppError::UnknownPartition { .. } => "Unknown partition",
            AppError::NotFound { .. } => "Not found",
            AppError::Unauthorized { .. } => "Unauthorized",
            AppError::Forbidden { .. } => "Forbidden",
            AppError::Rejected { .. } => "Request rejected",
            AppError::Overloaded { .. } => "Overloaded, retry later",
            AppError::Broker { .. } => "Kafka broker error",
            AppError::Timeout { .. } => "Kafka broker timeout",
            AppError::Unavailable { .. } => "Service unavailable",
            AppError::Internal { .. } => "Internal error",
            AppError::Transport { .. } => "Server unreachable",
        }
    }

    /// The request parameter at fault, so a form can show the message next to it.
    pub fn field(&self) -> Option<Field> {
        match self {
            AppError::Invalid { field, .. } => *field,
            AppError::UnknownPartition { .. } => Some(Field::Partition),
            _ => None,
        }
    }
}

impl From<ValidationError> for AppError {
    fn from(e: ValidationError) -> Self {
        AppError::Invalid { field: Some(e.field), message: e.message }
    }
}

/// The server-function boundary: how a transport or argument failure inside Leptos' server-fn
/// machinery becomes an [`AppError`], so the browser always gets the typed error.
mod server_fn_boundary {
    use super::AppError;
    use leptos::server_fn::codec::JsonEncoding;
    use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};

    impl FromServerFnError for AppError {
        type Encoder = JsonEncoding;

        fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
            match value {
                ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                    AppError::Invalid { field: None, message: format!("Invalid arguments: {m}") }
                }
                // On the server, what cannot be decoded is the caller's request (a 400); in the
                // browser, it is the server's answer.
                #[cfg(feature = "ssr")]
                ServerFnErrorErr::Deserialization(m) => {
                    AppError::Invalid { field: None, message: format!("The request body cannot be read: {m}") }
                }
                #[cfg(not(feature = "ssr"))]
                ServerFnErrorErr::Deserialization(m) => AppError::Transport { message: m },
                ServerFnErrorErr::Request(m) | ServerFnErrorErr::Response(m) => AppError::Transport { message: m },
                ServerFnErrorErr::UnsupportedRequestMethod(m) => AppError::Rejected { status: 405, message: m },
                ServerFnErrorErr::Registration(m)
                | ServerFnErrorErr::ServerError(m)
                | ServerFnErrorErr::MiddlewareError(m)
                | ServerFnErrorErr::Serialization(m) => AppError::Internal { message: m },
            }
        }
    }
}
