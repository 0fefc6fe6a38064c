//! The reliability lab's vocabulary, shared by the server and the Lab page: which fault to
//! inject ([`FaultKind`]), how a run is asked for and validated ([`params`]), and what the
//! read-back found ([`report`]).

mod params;
mod report;

pub use params::{FaultParams, LabParams};
pub use report::{LabRunReport, LabRunState, Verification};

use super::{ProducerMode, SendMode};
use serde::{Deserialize, Serialize};

/// Most events one lab run may send: enough to show the effect, bounded so a run stays short.
pub const MAX_LAB_COUNT: u32 = 100_000;
/// `socket.timeout.ms` of the lab's producers: short, so that a held answer makes them retry.
pub const LAB_SOCKET_TIMEOUT_MS: u32 = 1000;
/// Defaults that make each fault bite.
pub const DEFAULT_DELAY_MS: u64 = 2_500;
pub const DEFAULT_PRODUCE_REQUESTS: u32 = 3;
pub const DEFAULT_UNAVAILABLE_MS: u64 = 2_000;
/// broker-slow: each Produce answer's delay, below the lab's socket timeout (no retry).
pub const DEFAULT_SLOW_MS: u64 = 300;

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// No fault: both modes write exactly `count` records.
    None,
    /// The broker appends, but its answer arrives after the client gave up: the client retries.
    DelayProduceResponse,
    /// The connection closes after the request reached the broker, before its answer.
    DropConnectionAfterProduce,
    /// New connections are refused (and open ones closed) for a while.
    BrokerUnavailable,
    /// The HTTP caller sends every event twice (it never saw the first answer).
    ClientRetry,
    /// The same, with the same `Idempotency-Key` on both sends of an event.
    ClientRetryWithKey,
    /// The proxy answers Produce requests itself with a retriable error, without forwarding them.
    ProduceError,
    /// Every Produce answer arrives late, but before the client gives up.
    BrokerSlow,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::None,
        FaultKind::DelayProduceResponse,
        FaultKind::DropConnectionAfterProduce,
        FaultKind::BrokerUnavailable,
        FaultKind::ProduceError,
        FaultKind::BrokerSlow,
        FaultKind::ClientRetry,
        FaultKind::ClientRetryWithKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::None => "none",
            FaultKind::DelayProduceResponse => "delay-produce-response",
            FaultKind::DropConnectionAfterProduce => "drop-connection-after-produce",
            FaultKind::BrokerUnavailable => "broker-unavailable",
            FaultKind::ClientRetry => "client-retry",
            FaultKind::ClientRetryWithKey => "client-retry-with-key",
            FaultKind::ProduceError => "produce-error",
            FaultKind::BrokerSlow => "broker-slow",
        }
    }

    /// Whether the fault is injected by the proxy in front of the broker.
    pub fn needs_proxy(self) -> bool {
        !matches!(self, FaultKind::None | FaultKind::ClientRetry | FaultKind::ClientRetryWithKey)
    }

    /// Whether the HTTP caller sends every event twice.
    pub fn caller_retries(self) -> bool {
        matches!(self, FaultKind::ClientRetry | FaultKind::ClientRetryWithKey)
    }

    /// What the fault does, in a sentence a person can read.
    pub fn explain(self) -> &'static str {
        match self {
            FaultKind::None => "No fault: every request and answer passes.",
            FaultKind::DelayProduceResponse => {
                "The broker writes the batch, but its answer is held longer than socket.timeout.ms: \
                 the producer gives up and sends the batch again."
            }
            FaultKind::DropConnectionAfterProduce => {
                "The connection is cut after the broker received the batch, before its answer: \
                 the producer cannot know it was written and sends it again."
            }
            FaultKind::BrokerUnavailable => {
                "The broker refuses connections for a while: the producer waits, reconnects and \
                 sends what it had queued."
            }
            FaultKind::ClientRetry => {
                "The HTTP caller sends every event a second time, as a client does when it never saw \
                 the first answer: to Kafka these are two different sends."
            }
            FaultKind::ClientRetryWithKey => {
                "The HTTP caller sends every event a second time, with the same Idempotency-Key as the first: \
                 the service answers the repeat with the first answer and sends nothing."
            }
            FaultKind::ProduceError => {
                "The proxy answers Produce requests itself with NOT_LEADER_OR_FOLLOWER, without passing \
                 them on: the broker wrote nothing, so the producer's retry writes each record once."
            }
            FaultKind::BrokerSlow => {
                "Every Produce answer is held, but less than socket.timeout.ms: the producer waits \
                 instead of retrying. Slow is not lost: no retry, no duplicate, only latency."
            }
        }
    }
}

impl std::str::FromStr for FaultKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s)).ok_or(())
    }
}

/// A fault and its parameters. Once validated ([`FaultParams::validate`]), every parameter its
/// kind uses is set, with the defaults that make the fault bite.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// delay-produce-response, broker-slow: how long each held answer waits (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// delay-produce-response, drop-connection-after-produce, produce-error: how many Produce
    /// requests to hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produce_requests: Option<u32>,
    /// broker-unavailable: how long the broker is away (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

impl FaultSpec {
    pub fn of(kind: FaultKind) -> Self {
        Self { kind, delay_ms: None, produce_requests: None, duration_ms: None }
    }
}

/// `"fault"` in a JSON body: a bare name (`"delay-produce-response"`) or an object with
/// parameters. Documents the REST body; both doors validate through [`FaultParams`].
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FaultInput {
    Name(FaultKind),
    Spec(FaultSpec),
}

/// One listener of the fault proxy: the bootstrap one, or one per broker node.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyListener {
    /// `None` for the bootstrap listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<i32>,
    /// Where clients connect.
    pub proxy: String,
    /// Where its connections go.
    pub upstream: String,
}

/// The fault the proxy applies right now, and where the proxy stands.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultStatus {
    /// False when there is no proxy (a cluster reached over TLS): faults cannot be injected.
    pub available: bool,
    /// Whether a fault switched on here reaches every send of the service (`LAB_GLOBAL_FAULTS`),
    /// not only lab runs.
    #[serde(default)]
    pub global_switch: bool,
    /// The cluster behind the proxy.
    #[serde(default)]
    pub cluster: String,
    #[serde(default)]
    pub listeners: Vec<ProxyListener>,
    pub kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produce_requests_left: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms_left: Option<u64>,
}

impl FaultStatus {
    pub fn unavailable() -> Self {
        Self {
            available: false,
            global_switch: false,
            cluster: String::new(),
            listeners: Vec::new(),
            kind: FaultKind::None,
            delay_ms: None,
            produce_requests_left: None,
            ms_left: None,
        }
    }
}

/// The body of `POST /api/v1/lab/runs`, as documented. Every field is checked by the same code
/// for both doors ([`LabParams::validate`]): numbers may also be given as strings.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabRunRequest {
    pub mode: ProducerMode,
    /// 1 to 100000 (default 200).
    pub count: Option<u32>,
    /// Default `async`.
    pub send_mode: Option<SendMode>,
    /// Default `none`.
    pub fault: Option<FaultInput>,
}

/// A lab run that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabRunSpec {
    pub mode: ProducerMode,
    pub count: u32,
    pub send_mode: SendMode,
    pub fault: FaultSpec,
}
