use super::record::RecordContent;
use super::{ProducerMode, SendMode};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The seed tutorial's default topic.
pub const DEFAULT_TOPIC: &str = "bhf-transactions";
/// Longest accepted eventId, in characters: ids are identifiers, not payloads.
pub const MAX_EVENT_ID_LEN: usize = 256;
/// Longest accepted record key, in characters.
pub const MAX_KEY_LEN: usize = 1024;
/// Kafka's own limit on topic names.
pub const MAX_TOPIC_LEN: usize = 249;

/// A request parameter, named as the caller spells it, so an error can point at it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Field {
    Mode,
    EventId,
    Topic,
    SendMode,
    Key,
    Partition,
    RequestId,
    Count,
    Fault,
    DelayMs,
    ProduceRequests,
    DurationMs,
    /// The `Idempotency-Key` header (or the send form's `idempotency_key` field).
    IdempotencyKey,
    /// The record's own value (request body, or a batch record's `value`).
    Value,
    /// The record's own headers.
    Headers,
    /// A batch's `records`.
    Records,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Mode => "mode",
            Field::EventId => "eventId",
            Field::Topic => "topic",
            Field::SendMode => "sendMode",
            Field::Key => "key",
            Field::Partition => "partition",
            Field::RequestId => "requestId",
            Field::Count => "count",
            Field::Fault => "fault",
            Field::DelayMs => "delayMs",
            Field::ProduceRequests => "produceRequests",
            Field::DurationMs => "durationMs",
            Field::IdempotencyKey => "Idempotency-Key",
            Field::Value => "value",
            Field::Headers => "headers",
            Field::Records => "records",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request was refused before anything reached Kafka: the field and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationError {
    pub field: Field,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: Field, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A send as the caller typed it (query string, form or server-function arguments): every
/// field optional and textual, so that every door validates it with the same code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SendParams {
    pub mode: Option<String>,
    pub event_id: Option<String>,
    pub topic: Option<String>,
    pub send_mode: Option<String>,
    pub key: Option<String>,
    pub partition: Option<String>,
}

/// A send that passed validation, with the seed's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub mode: ProducerMode,
    pub event_id: String,
    pub topic: String,
    pub send_mode: SendMode,
    pub key: String,
    pub partition: Option<i32>,
    /// The caller's own value and headers; `None`: the seed's synthetic value.
    pub content: Option<RecordContent>,
}

/// Present and not blank: the seed treats whitespace-only values as missing.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

fn check_text(field: Field, value: &str, max_chars: usize) -> Result<(), ValidationError> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(ValidationError::new(
            field,
            format!("{field} is too long: {chars} characters, at most {max_chars}"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(ValidationError::new(
            field,
            format!("{field} contains a control character (U+{:04X}); remove it", c as u32),
        ));
    }
    Ok(())
}

/// Kafka's topic rules (legal characters, length, not `.`/`..`), plus a refusal of internal
/// `__` topics, which no client of this service has a reason to write to.
pub fn validate_topic(topic: &str) -> Result<(), ValidationError> {
    let invalid = |why: String| ValidationError::new(Field::Topic, why);
    if topic.is_empty() {
        return Err(invalid("topic is empty".into()));
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(invalid(format!(
            "topic is too long: {} characters, at most {MAX_TOPIC_LEN}",
            topic.chars().count()
        )));
    }
    if topic == "." || topic == ".." {
        return Err(invalid(format!("topic '{topic}' is not a legal Kafka topic name")));
    }
    if let Some(c) = topic.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(invalid(format!(
            "topic '{}' contains '{}': only letters, digits, '.', '_' and '-' are allowed",
            topic.escape_debug(),
            c.escape_debug()
        )));
    }
    if topic.starts_with("__") {
        return Err(invalid(format!("topic '{topic}' is internal to Kafka (prefix '__') and refused")));
    }
    Ok(())
}

impl SendParams {
    /// Applies the seed's rules and defaults, and refuses what the seed silently accepted
    /// (unknown modes, bad partitions).
    pub fn validate(&self, default_topic: &str) -> Result<SendRequest, ValidationError> {
        let mode = match given(&self.mode) {
            None => return Err(ValidationError::new(Field::Mode, "Missing: mode (plain|idempotent)")),
            Some(raw) => raw.parse::<ProducerMode>().map_err(|()| {
                ValidationError::new(
                    Field::Mode,
                    format!("Unknown mode '{}': expected plain or idempotent", raw.escape_debug()),
                )
            })?,
        };
        let event_id = match given(&self.event_id) {
            None => return Err(ValidationError::new(Field::EventId, "Missing: eventId")),
            Some(id) => id,
        };
        check_text(Field::EventId, event_id, MAX_EVENT_ID_LEN)?;
        let topic = given(&self.topic).unwrap_or(default_topic);
        validate_topic(topic)?;
        let send_mode = match given(&self.send_mode) {
            None => SendMode::Sync,
            Some(raw) => raw.parse::<SendMode>().map_err(|()| {
                ValidationError::new(
                    Field::SendMode,
                    format!("Unknown sendMode '{}': expected sync or async", raw.escape_debug()),
                )
            })?,
        };
        let key = given(&self.key).unwrap_or(event_id);
        check_text(Field::Key, key, MAX_KEY_LEN)?;
        let partition = match given(&self.partition) {
            None => None,
            Some(raw) => Some(parse_partition(raw)?),
        };
        Ok(SendRequest {
            mode,
            event_id: event_id.to_owned(),
            topic: topic.to_owned(),
            send_mode,
            key: key.to_owned(),
            partition,
            content: None,
        })
    }
}

fn parse_partition(raw: &str) -> Result<i32, ValidationError> {
    match raw.trim().parse::<i64>() {
        Ok(p) if (0..=i64::from(i32::MAX)).contains(&p) => Ok(p as i32),
        _ => Err(ValidationError::new(
            Field::Partition,
            format!("Invalid partition '{}': expected an integer >= 0", raw.escape_debug()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> SendParams {
        let mut p = SendParams::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "mode" => p.mode = v,
                "eventId" => p.event_id = v,
                "topic" => p.topic = v,
                "sendMode" => p.send_mode = v,
                "key" => p.key = v,
                "partition" => p.partition = v,
                other => panic!("unknown field {other}"),
            }
        }
        p
    }

    fn error_of(pairs: &[(&str, &str)]) -> ValidationError {
        params(pairs).validate(DEFAULT_TOPIC).unwrap_err()
    }

    #[test]
    fn applies_the_seed_defaults() {
        let req = params(&[("mode", "Idempotent"), ("eventId", "EVT-1")]).validate(DEFAULT_TOPIC).unwrap();
        assert_eq!(req.mode, ProducerMode::Idempotent);
        assert_eq!(req.topic, "bhf-transactions");
        assert_eq!(req.send_mode, SendMode::Sync);
        assert_eq!(req.key, "EVT-1");
        assert_eq!(req.partition, None);
    }

    #[test]
    fn blank_optional_values_take_defaults() {
        let req = params(&[("mode", "plain"), ("eventId", "e"), ("topic", " "), ("key", ""), ("partition", "")])
            .validate("t1")
            .unwrap();
        assert_eq!((req.topic.as_str(), req.key.as_str(), req.partition), ("t1", "e", None));
    }

    #[test]
    fn missing_mode_and_event_id_use_the_seed_messages() {
        assert_eq!(error_of(&[("eventId", "e")]).message, "Missing: mode (plain|idempotent)");
        assert_eq!(error_of(&[("mode", "  "), ("eventId", "e")]).field, Field::Mode);
        assert_eq!(error_of(&[("mode", "plain")]).message, "Missing: eventId");
        assert_eq!(error_of(&[("mode", "plain"), ("eventId", " \t")]).message, "Missing: eventId");
    }

    #[test]
    fn unknown_mode_is_refused_and_named() {
        let err = error_of(&[("mode", "exactly-once"), ("eventId", "e")]);
        assert_eq!(err.field, Field::Mode);
        assert!(err.message.contains("'exactly-once'"), "{}", err.message);
    }

    #[test]
    fn send_mode_must_be_sync_or_async() {
        let err = error_of(&[("mode", "plain"), ("eventId", "e"), ("sendMode", "later")]);
        assert_eq!(err.field, Field::SendMode);
        let req = params(&[("mode", "plain"), ("eventId", "e"), ("sendMode", "ASYNC")]).validate("t").unwrap();
        assert_eq!(req.send_mode, SendMode::Async);
    }

    #[test]
    fn partition_must_be_a_non_negative_integer() {
        for bad in ["-1", "abc", "1.5", "99999999999", "0x1"] {
            let err = error_of(&[("mode", "plain"), ("eventId", "e"), ("partition", bad)]);
            assert_eq!(err.field, Field::Partition, "{bad}");
            assert!(err.message.contains(bad), "{}", err.message);
        }
        let req = params(&[("mode", "plain"), ("eventId", "e"), ("partition", "2")]).validate("t").unwrap();
        assert_eq!(req.partition, Some(2));
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        for good in ["a", "bhf-transactions", "A.b_c-9", &"x".repeat(249)] {
            assert!(validate_topic(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "has space", "é", "a/b", "__consumer_offsets", &"x".repeat(250)] {
            assert_eq!(validate_topic(bad).unwrap_err().field, Field::Topic, "{bad}");
        }
    }

    #[test]
    fn long_or_control_text_is_refused() {
        let long = "e".repeat(MAX_EVENT_ID_LEN + 1);
        assert_eq!(error_of(&[("mode", "plain"), ("eventId", &long)]).field, Field::EventId);
        assert_eq!(error_of(&[("mode", "plain"), ("eventId", "a\u{0}b")]).field, Field::EventId);
        assert_eq!(error_of(&[("mode", "plain"), ("eventId", "e"), ("key", "k\nk")]).field, Field::Key);
        let ok = params(&[("mode", "plain"), ("eventId", "é\"\\ 🚀 {}")]).validate("t").unwrap();
        assert_eq!(ok.event_id, "é\"\\ 🚀 {}");
    }
}
