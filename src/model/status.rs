use super::record::RecordSummary;
use super::request::SendRequest;
use super::{ProducerMode, SendMode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a send stands. PENDING only until its delivery report arrives.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DeliveryState {
    Pending,
    Ok,
    Error,
    /// The replica that accepted the send stopped before Kafka's delivery report: the record
    /// may or may not be in the topic.
    Unknown,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "PENDING",
            DeliveryState::Ok => "OK",
            DeliveryState::Error => "ERROR",
            DeliveryState::Unknown => "UNKNOWN",
        }
    }

    pub fn is_terminal(self) -> bool {
        self != DeliveryState::Pending
    }
}

/// What happened to one send (sync or async): the body of `GET /api/v1/status`.
/// `partition`/`offset` appear once the broker acknowledged, `error` once it failed.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendStatus {
    pub request_id: Uuid,
    pub state: DeliveryState,
    pub event_id: String,
    pub mode: ProducerMode,
    pub send_mode: SendMode,
    pub topic: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds from accepting the send to its delivery report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// The replica that accepted the send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// The caller's own record (value size, headers); absent for the seed's synthetic value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordSummary>,
}

/// The answer to a synchronous send: the broker acknowledged the record at this offset.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendReceipt {
    pub request_id: Uuid,
    pub event_id: String,
    pub mode: ProducerMode,
    pub send_mode: SendMode,
    pub topic: String,
    pub key: String,
    pub partition: i32,
    pub offset: i64,
    pub latency_ms: f64,
}

/// The answer to an asynchronous send: accepted, delivery report to come.
/// `partition` is the one the caller asked for (null when not given).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendAccepted {
    pub request_id: Uuid,
    pub state: DeliveryState,
    pub event_id: String,
    pub mode: ProducerMode,
    pub send_mode: SendMode,
    pub topic: String,
    pub key: String,
    pub partition: Option<i32>,
}

impl SendAccepted {
    /// The 202 of an accepted send: PENDING, with the request's own parameters.
    pub fn pending(request_id: Uuid, req: &SendRequest) -> Self {
        SendAccepted {
            request_id,
            state: DeliveryState::Pending,
            event_id: req.event_id.clone(),
            mode: req.mode,
            send_mode: req.send_mode,
            topic: req.topic.clone(),
            key: req.key.clone(),
            partition: req.partition,
        }
    }
}

/// What the send core answers: delivered (sync) or accepted (async).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum SendOutcome {
    Delivered(SendReceipt),
    Accepted(SendAccepted),
}

/// What the send server function answers: the outcome, and whether it is the recorded answer
/// of an earlier request with the same Idempotency-Key (then nothing was sent again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendAnswer {
    pub outcome: SendOutcome,
    pub replayed: bool,
}

impl SendOutcome {
    pub fn request_id(&self) -> Uuid {
        match self {
            SendOutcome::Delivered(r) => r.request_id,
            SendOutcome::Accepted(a) => a.request_id,
        }
    }
}

/// Which broker the service talks to, for the UI's badge and `/health/ready`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrokerKind {
    /// A Tansu process the service started, with in-memory storage: data is lost on exit.
    Embedded,
    /// A cluster named by `KAFKA_BOOTSTRAP_SERVERS`.
    External,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerInfo {
    pub kind: BrokerKind,
    pub bootstrap_servers: String,
    pub ready: bool,
    /// Why the broker is not ready, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub topics: Vec<String>,
    pub default_topic: String,
    /// The last fatal producer error and its recovery, if one happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_producer_error: Option<String>,
    /// The replica that answered.
    #[serde(default)]
    pub replica: String,
    /// The replicas alive now (heartbeats in the state topic).
    #[serde(default)]
    pub replicas: Vec<String>,
}
