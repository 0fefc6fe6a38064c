//! The REST API described as OpenAPI 3.1 (`GET /api/openapi.json`), generated from the
//! handlers' annotations and the shared types, so it cannot drift from the code.

use super::problem::Problem;
use crate::model::{
    BatchAnswer, BatchCounts, BatchRecordResult, BatchRecordStatus, BatchStatus, BrokerInfo, BrokerKind, DeliveryState,
    FaultInput, FaultKind, FaultSpec, FaultStatus, Field, LabRunReport, LabRunRequest, LabRunState, ProducerMode,
    RecordError, RecordSummary, SendAccepted, SendMode, SendReceipt, SendStatus, Verification,
};
use utoipa::{IntoParams, OpenApi};

/// The query of `POST /api/v1/send` (names match case-insensitively).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SendQuery {
    /// `plain` or `idempotent`.
    mode: String,
    /// Not blank, at most 256 characters, no control characters.
    #[param(rename = "eventId")]
    event_id: String,
    /// Default `bhf-transactions`; a legal Kafka topic name, not internal (`__`).
    topic: Option<String>,
    /// `sync` (default) or `async`.
    #[param(rename = "sendMode")]
    send_mode: Option<String>,
    /// Default: the eventId. At most 1024 characters.
    key: Option<String>,
    /// An integer >= 0 the topic has; default chosen by key.
    partition: Option<String>,
}

/// The `Idempotency-Key` header of `POST /api/v1/send`.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKeyHeader {
    /// Optional (required when REQUIRE_IDEMPOTENCY_KEY is on): 1-255 printable ASCII characters,
    /// as a Structured Field string (`"8e03978e-40d5-43e8"`) or bare. One key per event: a retry
    /// with the same key and parameters is answered with the first request's recorded answer
    /// (`Idempotent-Replayed: true`) and sends nothing, on any replica, for
    /// IDEMPOTENCY_KEY_TTL_SECS (default 86400) after the first request. The key is scoped to the
    /// caller (with API_TOKEN, a hash of the token). A refusal that sent nothing (4xx, 503) is not
    /// recorded: it may be retried with the same key. The record carries the key in an
    /// `idempotency-key` header.
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}

/// The query of `GET /api/v1/status`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StatusQuery {
    /// The `requestId` a send answered with.
    #[param(rename = "requestId")]
    request_id: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "producer-reliability",
        description = "Send events to Kafka through a plain and an idempotent producer, and see what happened to each."
    ),
    paths(
        super::health,
        super::ready,
        super::send,
        super::status,
        super::recent,
        super::batches::create,
        super::batches::status,
        super::lab::run,
        super::lab::list_runs,
        super::lab::get_run,
        super::lab::get_fault,
        super::lab::put_fault,
        super::lab::clear_fault,
    ),
    components(schemas(
        Problem,
        ProducerMode,
        SendMode,
        DeliveryState,
        SendReceipt,
        SendAccepted,
        SendStatus,
        RecordSummary,
        BatchAnswer,
        BatchRecordResult,
        RecordError,
        BatchStatus,
        BatchCounts,
        BatchRecordStatus,
        Field,
        BrokerInfo,
        BrokerKind,
        LabRunRequest,
        LabRunReport,
        LabRunState,
        Verification,
        FaultInput,
        FaultSpec,
        FaultKind,
        FaultStatus,
    ))
)]
pub struct ApiDoc;
