//! The one error type of the service, shared by both doors: the REST API renders it as
//! problem+json, server functions send it as a typed value to the browser. Status codes and
//! titles are decided here, once.

use crate::model::{Field, ValidationError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(into = "wire::WireError", from = "wire::WireError")]
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
    /// The request conflicts with one still in progress (the same Idempotency-Key): retry after
    /// a pause.
    #[error("{message}")]
    Conflict { message: String, retry_after_secs: u32 },
    /// Well-formed, but it contradicts what the service already holds (an Idempotency-Key
    /// reused with other parameters); `message` says what differs.
    #[error("{message}")]
    Unprocessable { message: String },
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
    /// Something this replica does not hold (a status, an async batch, a lab run) may have been
    /// written by another replica, and the replica's view could not be caught up with the state
    /// topic within its bound: not a 404, since it may exist; retry after a pause.
    #[error("{message}")]
    Behind { message: String, retry_after_secs: u32 },
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
            AppError::Conflict { .. } => 409,
            AppError::Unprocessable { .. } => 422,
            AppError::Rejected { status, .. } => *status,
            AppError::Overloaded { .. } | AppError::Unavailable { .. } | AppError::Behind { .. } => 503,
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
            AppError::Conflict { .. } => "idempotency-key-in-use",
            AppError::Unprocessable { .. } => "idempotency-key-reused",
            AppError::Rejected { .. } => "rejected",
            AppError::Overloaded { .. } => "overloaded",
            AppError::Broker { .. } => "broker-error",
            AppError::Timeout { .. } => "broker-timeout",
            AppError::Unavailable { .. } => "unavailable",
            AppError::Behind { .. } => "statuses-catching-up",
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
            AppError::Conflict { .. } => "Idempotency-Key in use",
            AppError::Unprocessable { .. } => "Idempotency-Key reused with other parameters",
            AppError::Rejected { .. } => "Request rejected",
            AppError::Overloaded { .. } => "Overloaded, retry later",
            AppError::Broker { .. } => "Kafka broker error",
            AppError::Timeout { .. } => "Kafka broker timeout",
            AppError::Unavailable { .. } => "Service unavailable",
            AppError::Behind { .. } => "Statuses still catching up, retry shortly",
            AppError::Internal { .. } => "Internal error",
            AppError::Transport { .. } => "Server unreachable",
        }
    }

    /// Seconds the caller should wait before trying again (the `Retry-After` header), when the
    /// error says to.
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            AppError::Overloaded { retry_after_secs, .. }
            | AppError::Conflict { retry_after_secs, .. }
            | AppError::Behind { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
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

/// The JSON form of [`AppError`]: `{"kind": "invalid", "message": ..., ...}`. A flat struct
/// rather than serde's internally tagged enum, whose buffering deserializer costs the browser
/// bundle tens of kilobytes.
mod wire {
    use super::AppError;
    use crate::model::Field;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Clone, Copy)]
    #[serde(rename_all = "camelCase")]
    pub enum Kind {
        Invalid,
        UnknownPartition,
        NotFound,
        Unauthorized,
        Forbidden,
        Conflict,
        Unprocessable,
        Rejected,
        Overloaded,
        Broker,
        Timeout,
        Unavailable,
        Behind,
        Internal,
        Transport,
    }

    #[derive(Serialize, Deserialize)]
    pub struct WireError {
        kind: Kind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<Field>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partition: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partitions: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u32>,
    }

    impl WireError {
        fn new(kind: Kind, message: String) -> Self {
            WireError {
                kind,
                message: Some(message),
                field: None,
                topic: None,
                partition: None,
                partitions: None,
                status: None,
                retry_after_secs: None,
            }
        }
    }

    impl From<AppError> for WireError {
        fn from(e: AppError) -> Self {
            match e {
                AppError::Invalid { field, message } => WireError { field, ..WireError::new(Kind::Invalid, message) },
                AppError::UnknownPartition { topic, partition, partitions } => WireError {
                    message: None,
                    topic: Some(topic),
                    partition: Some(partition),
                    partitions: Some(partitions),
                    ..WireError::new(Kind::UnknownPartition, String::new())
                },
                AppError::NotFound { message } => WireError::new(Kind::NotFound, message),
                AppError::Unauthorized { message } => WireError::new(Kind::Unauthorized, message),
                AppError::Forbidden { message } => WireError::new(Kind::Forbidden, message),
                AppError::Rejected { status, message } => {
                    WireError { status: Some(status), ..WireError::new(Kind::Rejected, message) }
                }
                AppError::Overloaded { message, retry_after_secs } => {
                    WireError { retry_after_secs: Some(retry_after_secs), ..WireError::new(Kind::Overloaded, message) }
                }
                AppError::Conflict { message, retry_after_secs } => {
                    WireError { retry_after_secs: Some(retry_after_secs), ..WireError::new(Kind::Conflict, message) }
                }
                AppError::Unprocessable { message } => WireError::new(Kind::Unprocessable, message),
                AppError::Broker { message } => WireError::new(Kind::Broker, message),
                AppError::Timeout { message } => WireError::new(Kind::Timeout, message),
                AppError::Unavailable { message } => WireError::new(Kind::Unavailable, message),
                AppError::Behind { message, retry_after_secs } => {
                    WireError { retry_after_secs: Some(retry_after_secs), ..WireError::new(Kind::Behind, message) }
                }
                AppError::Internal { message } => WireError::new(Kind::Internal, message),
                AppError::Transport { message } => WireError::new(Kind::Transport, message),
            }
        }
    }

    impl From<WireError> for AppError {
        fn from(w: WireError) -> Self {
            let message = w.message.unwrap_or_default();
            match w.kind {
                Kind::Invalid => AppError::Invalid { field: w.field, message },
                Kind::UnknownPartition => AppError::UnknownPartition {
                    topic: w.topic.unwrap_or_default(),
                    partition: w.partition.unwrap_or_default(),
                    partitions: w.partitions.unwrap_or_default(),
                },
                Kind::NotFound => AppError::NotFound { message },
                Kind::Unauthorized => AppError::Unauthorized { message },
                Kind::Forbidden => AppError::Forbidden { message },
                Kind::Rejected => AppError::Rejected { status: w.status.unwrap_or(400), message },
                Kind::Overloaded => AppError::Overloaded { message, retry_after_secs: w.retry_after_secs.unwrap_or(1) },
                Kind::Conflict => AppError::Conflict { message, retry_after_secs: w.retry_after_secs.unwrap_or(1) },
                Kind::Unprocessable => AppError::Unprocessable { message },
                Kind::Broker => AppError::Broker { message },
                Kind::Timeout => AppError::Timeout { message },
                Kind::Unavailable => AppError::Unavailable { message },
                Kind::Behind => AppError::Behind { message, retry_after_secs: w.retry_after_secs.unwrap_or(1) },
                Kind::Internal => AppError::Internal { message },
                Kind::Transport => AppError::Transport { message },
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_json_form() {
        let all = [
            AppError::invalid(Field::Partition, "Partition must be a number"),
            AppError::Invalid { field: None, message: "Invalid arguments".into() },
            AppError::UnknownPartition { topic: "t".into(), partition: 9, partitions: 3 },
            AppError::not_found("no such request"),
            AppError::Unauthorized { message: "token".into() },
            AppError::Forbidden { message: "topic".into() },
            AppError::Rejected { status: 405, message: "method".into() },
            AppError::Overloaded { message: "queue full".into(), retry_after_secs: 1 },
            AppError::broker("broker says no"),
            AppError::Timeout { message: "late".into() },
            AppError::Unavailable { message: "down".into() },
            AppError::Behind { message: "catching up".into(), retry_after_secs: 1 },
            AppError::internal("bug"),
            AppError::Transport { message: "offline".into() },
        ];
        for e in all {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<AppError>(&json).unwrap(), e, "{json}");
        }
    }

    #[test]
    fn the_json_names_the_kind_beside_the_fields() {
        let json = serde_json::to_value(AppError::invalid(Field::Partition, "bad")).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "invalid", "message": "bad", "field": "partition"}));
        let json = serde_json::to_value(AppError::UnknownPartition { topic: "t".into(), partition: 9, partitions: 3 })
            .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "unknownPartition", "topic": "t", "partition": 9, "partitions": 3})
        );
    }
}
