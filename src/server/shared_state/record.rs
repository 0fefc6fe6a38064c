//! The records of the state topic: what each kind holds, how it is keyed, and which partition a
//! key lives in. JSON values, so any Kafka tool can read the topic; keys chosen so that
//! compaction keeps one record per replica, per marker and per idempotency key, and every bulk
//! of statuses (each has a key of its own: the age rule ends them).

use crate::model::{DeliveryState, LabRunReport, ProducerMode, RecordSummary, SendMode, SendStatus};
use crate::server::idempotency::{KeyClaim, RecordedAnswer};
use crate::server::status_table::batches::BatchPart;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One record of the state topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum StateRecord {
    /// Status changes of one replica's sends, in the order they happened, keyed
    /// `statuses/<replica>/<sequence>` (see `status_log`).
    Statuses(StatusBulk),
    /// A replica is alive (or, with `stopped`, left cleanly), keyed `replica/<id>`.
    Heartbeat(Heartbeat),
    /// A point in one partition a replica reads up to, to know it saw everything before it.
    Marker(Marker),
    /// A request claims an idempotency key, keyed `idempotency/<scope>/<key>` (every record of
    /// a key shares its partition, so the log orders them).
    Claim(KeyClaimRecord),
    /// The final answer of the request that holds a key, with its claim (compaction keeps this
    /// one: it is the whole entry).
    Answer(KeyAnswerRecord),
    /// The holder of a key gave it up: its request recorded nothing.
    Release(KeyReleaseRecord),
    /// A part of an async batch's records (their request ids, or why none), keyed
    /// `batch/<id>/<first index>`.
    Batch(BatchPartRecord),
    /// A lab run's report as its replica last posted it, keyed `lab/<run id>` (compaction keeps
    /// the last).
    LabRun(LabRunRecord),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabRunRecord {
    pub replica: String,
    pub created_ms: i64,
    pub report: LabRunReport,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchPartRecord {
    /// The replica that ran the batch (it keeps the batch already).
    pub replica: String,
    #[serde(flatten)]
    pub part: BatchPart,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyClaimRecord {
    pub key: String,
    pub claim: KeyClaim,
    /// The request's PENDING status, when the claim carries it (one record instead of two):
    /// applied only where the claim wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyAnswerRecord {
    pub key: String,
    pub claim: KeyClaim,
    pub answer: RecordedAnswer,
    /// The request's final status, when the answer carries it (a sync send's outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyReleaseRecord {
    pub key: String,
    pub request_id: Uuid,
}

/// One replica's status changes, written as one record: every change in `statuses` in order,
/// then the sends in `forgotten` end (refused before they were sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusBulk {
    /// The replica that accepted these sends.
    pub replica: String,
    /// This replica's bulks are numbered from 1.
    pub sequence: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<StatusRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forgotten: Vec<Uuid>,
}

/// The key prefix of one replica's bulks of statuses (each bulk under a key of its own; the
/// partitions take them in turn).
pub fn status_bulk_prefix(replica: &str) -> String {
    format!("statuses/{replica}/")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRecord {
    pub request_id: Uuid,
    pub state: DeliveryState,
    pub event_id: String,
    pub mode: ProducerMode,
    pub send_mode: SendMode,
    pub topic: String,
    /// Left out when it is the eventId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// The caller's own record: its value's size and headers (written with the PENDING status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordSummary>,
}

impl StatusRecord {
    pub fn of(status: &SendStatus) -> Self {
        Self {
            request_id: status.request_id,
            state: status.state,
            event_id: status.event_id.clone(),
            mode: status.mode,
            send_mode: status.send_mode,
            topic: status.topic.clone(),
            key: (status.key != status.event_id).then(|| status.key.clone()),
            partition: status.partition,
            offset: status.offset,
            error: status.error.clone(),
            latency_ms: status.latency_ms,
            record: status.record.clone(),
        }
    }

    /// The status, as accepted by `replica`.
    pub fn into_status(self, replica: &str) -> SendStatus {
        SendStatus {
            request_id: self.request_id,
            state: self.state,
            key: self.key.unwrap_or_else(|| self.event_id.clone()),
            event_id: self.event_id,
            mode: self.mode,
            send_mode: self.send_mode,
            topic: self.topic,
            partition: self.partition,
            offset: self.offset,
            error: self.error,
            latency_ms: self.latency_ms,
            replica: Some(replica.to_owned()),
            record: self.record,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    pub replica: String,
    pub lease_ms: u64,
    /// The replica stopped cleanly: it left nothing PENDING behind.
    #[serde(default)]
    pub stopped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    pub replica: String,
    pub round: u64,
}

impl StateRecord {
    /// The record's key: what compaction keeps one record of.
    pub fn key(&self) -> String {
        match self {
            StateRecord::Statuses(b) => format!("{}{}", status_bulk_prefix(&b.replica), b.sequence),
            StateRecord::Heartbeat(h) => format!("replica/{}", h.replica),
            StateRecord::Marker(m) => format!("marker/{}", m.replica),
            StateRecord::Claim(c) => key_record_key(&c.key),
            StateRecord::Answer(a) => key_record_key(&a.key),
            StateRecord::Release(r) => key_record_key(&r.key),
            StateRecord::Batch(b) => format!("batch/{}/{}", b.part.batch_id, b.part.first),
            StateRecord::LabRun(r) => format!("lab/{}", r.report.id),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// `None` for a value this version does not know (a newer replica's record, say).
    pub fn decode(value: &[u8]) -> Option<Self> {
        serde_json::from_slice(value).ok()
    }
}

/// The record key of everything about an idempotency key.
pub fn key_record_key(scoped: &str) -> String {
    format!("idempotency/{scoped}")
}

/// The partition a key lives in: Kafka's own default partitioner (murmur2, positive, modulo),
/// so any client partitions the state topic's keys the same way.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions.max(1) as u32) as i32
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if rest.len() == 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_their_kind() {
        let beat = StateRecord::Heartbeat(Heartbeat { replica: "r1".into(), lease_ms: 10_000, stopped: false });
        let json = String::from_utf8(beat.encode()).unwrap();
        assert!(json.contains(r#""kind":"heartbeat""#), "{json}");
        assert_eq!(StateRecord::decode(json.as_bytes()), Some(beat.clone()));
        assert_eq!(beat.key(), "replica/r1");
        assert_eq!(StateRecord::decode(br#"{"kind":"from-the-future"}"#), None);
    }

    #[test]
    fn a_bulk_of_statuses_round_trips_under_a_key_of_its_own() {
        let status = StatusRecord::of(&SendStatus {
            state: DeliveryState::Ok,
            mode: ProducerMode::Idempotent,
            partition: Some(1),
            offset: Some(7),
            latency_ms: Some(1.5),
            ..crate::server::status_store::pending_for_test("e1")
        });
        let gone = Uuid::new_v4();
        let bulk = StateRecord::Statuses(StatusBulk {
            replica: "r1".into(),
            sequence: 3,
            statuses: vec![status.clone()],
            forgotten: vec![gone],
        });
        assert_eq!(bulk.key(), "statuses/r1/3");
        assert!(bulk.key().starts_with(&status_bulk_prefix("r1")));
        assert_eq!(StateRecord::decode(&bulk.encode()), Some(bulk));
        let read = status.into_status("r1");
        assert_eq!((read.replica.as_deref(), read.key.as_str(), read.offset), (Some("r1"), "e1", Some(7)));
    }

    #[test]
    fn a_part_of_a_batch_round_trips_under_a_key_of_its_own() {
        use crate::model::RecordError;
        use crate::server::status_table::BatchEntry;
        let refused = RecordError { status: 400, field: Some(crate::model::Field::EventId), message: "bad".into() };
        let part = BatchPart {
            batch_id: Uuid::new_v4(),
            total: 9,
            first: 7,
            entries: vec![BatchEntry::Sent(Uuid::new_v4()), BatchEntry::Refused(Box::new(refused))],
        };
        let record = StateRecord::Batch(BatchPartRecord { replica: "r1".into(), part: part.clone() });
        assert_eq!(record.key(), format!("batch/{}/7", part.batch_id));
        let json = String::from_utf8(record.encode()).unwrap();
        assert!(json.contains(r#""kind":"batch""#), "{json}");
        assert_eq!(StateRecord::decode(json.as_bytes()), Some(record));
    }

    /// The vectors of Kafka's own `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_is_kafkas() {
        for (input, expected) in [
            (&b"21"[..], -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
        ] {
            assert_eq!(murmur2(input) as i32, expected, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn keys_spread_over_partitions() {
        let used: std::collections::HashSet<i32> =
            (0..200).map(|_| partition_for(Uuid::new_v4().to_string().as_bytes(), 6)).collect();
        assert_eq!(used.len(), 6, "{used:?}");
    }
}
