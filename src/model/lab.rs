//! The reliability lab's vocabulary, shared by the server and the Lab page: which fault to
//! inject, how a run is asked for, and what the read-back found.

use super::{Field, ProducerMode, SendMode, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most events one lab run may send: enough to show the effect, bounded so a run stays short.
pub const MAX_LAB_COUNT: u32 = 100_000;

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
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::None,
        FaultKind::DelayProduceResponse,
        FaultKind::DropConnectionAfterProduce,
        FaultKind::BrokerUnavailable,
        FaultKind::ClientRetry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::None => "none",
            FaultKind::DelayProduceResponse => "delay-produce-response",
            FaultKind::DropConnectionAfterProduce => "drop-connection-after-produce",
            FaultKind::BrokerUnavailable => "broker-unavailable",
            FaultKind::ClientRetry => "client-retry",
        }
    }

    /// Whether the fault is injected by the proxy in front of the broker.
    pub fn needs_proxy(self) -> bool {
        matches!(
            self,
            FaultKind::DelayProduceResponse | FaultKind::DropConnectionAfterProduce | FaultKind::BrokerUnavailable
        )
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
        }
    }
}

impl std::str::FromStr for FaultKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s)).ok_or(())
    }
}

/// A fault and its parameters; any left out take defaults that make the fault bite.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// delay-produce-response: how long each held answer waits (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// delay-produce-response, drop-connection-after-produce: how many Produce requests to hit.
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

/// `"fault"` may be a bare name (`"delay-produce-response"`) or an object with parameters.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FaultInput {
    Name(FaultKind),
    Spec(FaultSpec),
}

impl FaultInput {
    pub fn spec(&self) -> FaultSpec {
        match self {
            FaultInput::Name(kind) => FaultSpec::of(*kind),
            FaultInput::Spec(spec) => spec.clone(),
        }
    }
}

/// The fault the proxy applies right now.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultStatus {
    /// False when there is no proxy (external cluster): faults cannot be injected.
    pub available: bool,
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
        Self { available: false, kind: FaultKind::None, delay_ms: None, produce_requests_left: None, ms_left: None }
    }
}

/// The body of `POST /api/v1/lab/runs`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabRunRequest {
    pub mode: ProducerMode,
    pub count: u32,
    #[serde(default = "default_send_mode")]
    pub send_mode: SendMode,
    #[serde(default = "default_fault")]
    pub fault: FaultInput,
}

fn default_send_mode() -> SendMode {
    SendMode::Async
}

fn default_fault() -> FaultInput {
    FaultInput::Name(FaultKind::None)
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabRunState {
    /// Waiting for the run before it (runs take turns: a fault is global to the proxy).
    Queued,
    Running,
    Done,
    Failed,
}

/// What reading the topic back found, for the events of one run.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Records of this run's events found in the topic.
    pub records_in_topic: u64,
    /// Events found at least once.
    pub distinct_events: u64,
    /// Events found more than once.
    pub duplicates: u64,
    /// Events sent but not found.
    pub lost: u64,
    /// Events acknowledged by the broker but not found: the worst outcome.
    pub lost_acked: u64,
    /// Records whose event was sent after one the same key had already shown in the same
    /// partition (an earlier send written after a later one).
    pub out_of_order: u64,
    /// copies -> how many events had that many copies (0 = lost).
    #[serde(with = "copy_histogram")]
    #[cfg_attr(feature = "ssr", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub copy_histogram: BTreeMap<u32, u64>,
    /// Records in the topic that belong to no event of the run.
    pub foreign_records: u64,
}

/// The histogram as a JSON object (`{"1": 200, "2": 8}`). Written out because the report
/// flattens [`Verification`], and serde's flattening hands map keys over as strings.
mod copy_histogram {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(map: &BTreeMap<u32, u64>, serializer: S) -> Result<S::Ok, S::Error> {
        map.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<String, u64>>().serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<u32, u64>, D::Error> {
        BTreeMap::<String, u64>::deserialize(deserializer)?
            .into_iter()
            .map(|(k, v)| k.parse::<u32>().map(|k| (k, v)).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// One lab run: what was asked, what was sent, what the topic holds.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabRunReport {
    pub id: String,
    pub state: LabRunState,
    pub mode: ProducerMode,
    pub send_mode: SendMode,
    pub count: u32,
    pub fault: FaultSpec,
    pub topic: String,
    /// The producer properties in effect for the run, as `[name, value]` pairs.
    #[cfg_attr(feature = "ssr", schema(value_type = Vec<Vec<String>>))]
    pub settings: Vec<(String, String)>,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    /// Empty (all zero) until the run has been verified.
    #[serde(flatten)]
    pub verification: Verification,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A lab run as a form gives it: text fields, validated by the same code on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LabParams {
    pub mode: Option<String>,
    pub count: Option<String>,
    pub send_mode: Option<String>,
    pub fault: Option<String>,
    pub delay_ms: Option<String>,
    pub produce_requests: Option<String>,
    pub duration_ms: Option<String>,
}

fn optional_number<T: std::str::FromStr>(field: Field, raw: &Option<String>) -> Result<Option<T>, ValidationError> {
    match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse::<T>().map(Some).map_err(|_| {
            ValidationError::new(field, format!("{field} must be a whole number >= 0, got '{}'", s.escape_debug()))
        }),
    }
}

impl LabParams {
    pub fn validate(&self) -> Result<LabRunRequest, ValidationError> {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let mode = match text(&self.mode) {
            None => return Err(ValidationError::new(Field::Mode, "Missing: mode (plain|idempotent)")),
            Some(m) => m.parse::<ProducerMode>().map_err(|()| {
                ValidationError::new(
                    Field::Mode,
                    format!("Unknown mode '{}': expected plain or idempotent", m.escape_debug()),
                )
            })?,
        };
        let count = optional_number::<u32>(Field::Count, &self.count)?.unwrap_or(200);
        if !(1..=MAX_LAB_COUNT).contains(&count) {
            return Err(ValidationError::new(Field::Count, format!("count must be 1 to {MAX_LAB_COUNT}, got {count}")));
        }
        let send_mode = match text(&self.send_mode) {
            None => SendMode::Async,
            Some(m) => m.parse::<SendMode>().map_err(|()| {
                ValidationError::new(
                    Field::SendMode,
                    format!("Unknown sendMode '{}': expected sync or async", m.escape_debug()),
                )
            })?,
        };
        let kind = match text(&self.fault) {
            None => FaultKind::None,
            Some(f) => f.parse::<FaultKind>().map_err(|()| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
                ValidationError::new(
                    Field::Fault,
                    format!("Unknown fault '{}': expected one of {}", f.escape_debug(), names.join(", ")),
                )
            })?,
        };
        let fault = FaultSpec {
            kind,
            delay_ms: optional_number(Field::DelayMs, &self.delay_ms)?,
            produce_requests: optional_number(Field::ProduceRequests, &self.produce_requests)?,
            duration_ms: optional_number(Field::DurationMs, &self.duration_ms)?,
        };
        Ok(LabRunRequest { mode, count, send_mode, fault: FaultInput::Spec(fault) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_may_be_a_name_or_an_object() {
        let by_name: LabRunRequest =
            serde_json::from_str(r#"{"mode":"plain","count":200,"sendMode":"sync","fault":"delay-produce-response"}"#)
                .unwrap();
        assert_eq!(by_name.fault.spec(), FaultSpec::of(FaultKind::DelayProduceResponse));
        let by_spec: LabRunRequest = serde_json::from_str(
            r#"{"mode":"idempotent","count":5,"fault":{"kind":"broker-unavailable","durationMs":900}}"#,
        )
        .unwrap();
        assert_eq!(by_spec.send_mode, SendMode::Async);
        assert_eq!(by_spec.fault.spec().duration_ms, Some(900));
        assert!(serde_json::from_str::<LabRunRequest>(r#"{"mode":"plain","count":1,"extra":1}"#).is_err());
    }

    #[test]
    fn a_report_round_trips_through_json_with_its_histogram() {
        let report = LabRunReport {
            id: "r".into(),
            state: LabRunState::Done,
            mode: ProducerMode::Plain,
            send_mode: SendMode::Async,
            count: 3,
            fault: FaultSpec::of(FaultKind::None),
            topic: "t".into(),
            settings: vec![("acks".into(), "1".into())],
            sent: 3,
            acked: 3,
            failed: 0,
            verification: Verification {
                records_in_topic: 4,
                copy_histogram: BTreeMap::from([(1, 2), (2, 1)]),
                ..Default::default()
            },
            duration_ms: 5,
            error: None,
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["copyHistogram"], serde_json::json!({"1": 2, "2": 1}));
        assert_eq!(json["recordsInTopic"], 4);
        let back: LabRunReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn form_params_validate_with_defaults_and_named_errors() {
        let ok = LabParams { mode: Some("Plain".into()), ..Default::default() }.validate().unwrap();
        assert_eq!((ok.count, ok.send_mode, ok.fault.spec().kind), (200, SendMode::Async, FaultKind::None));
        let bad = LabParams { mode: Some("plain".into()), count: Some("0".into()), ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().field, Field::Count);
        let bad = LabParams { mode: Some("plain".into()), fault: Some("meteor".into()), ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().field, Field::Fault);
        let bad = LabParams { mode: Some("plain".into()), delay_ms: Some("-5".into()), ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().field, Field::DelayMs);
    }
}
