//! What a lab run reports: its progress, every send accounted for, and what reading the topic
//! back found.

use super::FaultSpec;
use crate::model::{ProducerMode, SendMode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// One lab run: what was asked, what was sent, what the topic holds. Every send is accounted
/// for: `sent == acked + failed + unknown`.
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
    /// The cluster the run wrote to.
    #[serde(default)]
    pub cluster: String,
    /// The fault proxy its producers connected through (none on a cluster reached over TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Sends made (with `client-retry` and `client-retry-with-key`, two per event).
    pub sent: u64,
    /// Sends answered with the recorded answer of their Idempotency-Key: nothing was sent again
    /// (`client-retry-with-key`).
    #[serde(default)]
    pub replayed: u64,
    /// Sends the broker acknowledged.
    pub acked: u64,
    /// Sends whose delivery failed (the Kafka error is in the run's log).
    pub failed: u64,
    /// Sends with no delivery report within the run's bound (see `unknownReason`).
    #[serde(default)]
    pub unknown: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_reason: Option<String>,
    /// Messages the producers sent again (librdkafka's statistics: messages transmitted, less
    /// the sends), a retry's footprint even where the broker kept one copy.
    #[serde(default)]
    pub resent_messages: u64,
    /// Acceptance to delivery report, over the acknowledged sends: median and slowest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_max_ms: Option<f64>,
    /// Empty (all zero) until the run has been verified.
    #[serde(flatten)]
    pub verification: Verification,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::super::FaultKind;
    use super::*;

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
            cluster: "k:9092".into(),
            via: None,
            sent: 3,
            replayed: 0,
            acked: 2,
            failed: 0,
            unknown: 1,
            unknown_reason: Some("no report".into()),
            resent_messages: 0,
            latency_p50_ms: Some(1.5),
            latency_max_ms: Some(9.0),
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
        assert_eq!(json["unknown"], 1);
        let back: LabRunReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }
}
