//! Reads a topic back and says, for a set of sent events, what is really there: copies per
//! event, losses, and order per key. It never trusts the high watermark (Tansu's is wrong for
//! multi-record batches): it reads until the offsets the delivery reports gave have been seen
//! and nothing new arrived for a quiet period, within a hard bound.

use crate::error::AppError;
use crate::model::Verification;
use crate::server::kafka::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// A record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// The record's headers, in order (a header without a value reads as empty).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ReadRecord {
    /// The first header of that name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// The `eventId` in the record's JSON value, if it has one.
    pub fn event_id(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.value).ok()?;
        value.get("eventId")?.as_str().map(str::to_owned)
    }
}

/// How far to read.
#[derive(Debug, Clone)]
pub struct ReadBound {
    /// Per partition, the highest offset a delivery report gave: reading goes at least this far.
    pub acked_offsets: HashMap<i32, i64>,
    /// Stop once this long passed with nothing new (after the acked offsets were reached).
    pub quiet: Duration,
    /// Stop in any case after this long.
    pub max_wait: Duration,
}

/// Reads partitions `0..partitions` of `topic` from the start, as bounded. Blocking.
pub fn read_back(
    settings: &KafkaSettings,
    topic: &str,
    partitions: i32,
    bound: &ReadBound,
) -> Result<Vec<ReadRecord>, AppError> {
    // assign() needs a group.id in librdkafka; this one is never joined nor committed to.
    let consumer: BaseConsumer = settings
        .client_config()
        .set("group.id", format!("producer-reliability-verifier-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Answer fetches quickly (and below any short socket.timeout.ms a lab run uses).
        .set("fetch.wait.max.ms", "100")
        .create()
        .map_err(|e| AppError::broker(format!("cannot create the verifier's consumer: {e}")))?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| AppError::internal(format!("cannot assign partition {p}: {e}")))?;
    }
    consumer.assign(&assignment).map_err(|e| AppError::broker(format!("cannot read topic '{topic}': {e}")))?;

    let started = Instant::now();
    let mut last_new = Instant::now();
    let mut reached: HashMap<i32, i64> = HashMap::new();
    let mut records = Vec::new();
    loop {
        let all_reached = bound.acked_offsets.iter().all(|(p, o)| reached.get(p).is_some_and(|r| r >= o));
        if (all_reached && last_new.elapsed() >= bound.quiet) || started.elapsed() >= bound.max_wait {
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let entry = reached.entry(m.partition()).or_insert(-1);
                *entry = (*entry).max(m.offset());
                records.push(ReadRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().unwrap_or_default().to_vec(),
                    value: m.payload().unwrap_or_default().to_vec(),
                    headers: m
                        .headers()
                        .map(|h| h.iter().map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec())).collect())
                        .unwrap_or_default(),
                });
                last_new = Instant::now();
            }
            Some(Err(e)) => tracing::debug!(error = %e, "verifier: consumer error (retrying)"),
            None => {}
        }
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    Ok(records)
}

/// An event as it was sent, in send order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEvent {
    pub event_id: String,
    pub key: String,
    /// Whether a delivery report said the broker has it.
    pub acked: bool,
}

/// Compares what was sent with what was read.
pub fn analyse(sent: &[SentEvent], records: &[ReadRecord]) -> Verification {
    let order: HashMap<&str, usize> = sent.iter().enumerate().map(|(i, e)| (e.event_id.as_str(), i)).collect();
    let mut copies = vec![0u32; sent.len()];
    let mut report = Verification::default();
    // Per (partition, key): the latest send position seen so far, to spot an earlier one after it.
    let mut latest: HashMap<(i32, &[u8]), usize> = HashMap::new();
    let mut sorted: Vec<&ReadRecord> = records.iter().collect();
    sorted.sort_by_key(|r| (r.partition, r.offset));
    for record in sorted {
        let Some(position) = record.event_id().and_then(|id| order.get(id.as_str()).copied()) else {
            report.foreign_records += 1;
            continue;
        };
        report.records_in_topic += 1;
        copies[position] += 1;
        if copies[position] > 1 {
            continue; // a duplicate says nothing more about order
        }
        let seen = latest.entry((record.partition, record.key.as_slice())).or_insert(position);
        if position < *seen {
            report.out_of_order += 1;
        } else {
            *seen = position;
        }
    }
    let mut histogram = BTreeMap::new();
    for (event, n) in sent.iter().zip(&copies) {
        *histogram.entry(*n).or_insert(0u64) += 1;
        match n {
            0 => {
                report.lost += 1;
                if event.acked {
                    report.lost_acked += 1;
                }
            }
            1 => report.distinct_events += 1,
            _ => {
                report.distinct_events += 1;
                report.duplicates += 1;
            }
        }
    }
    report.copy_histogram = histogram;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize, key: &str) -> SentEvent {
        SentEvent { event_id: format!("e{i}"), key: key.into(), acked: true }
    }

    fn record(partition: i32, offset: i64, event: &str, key: &str) -> ReadRecord {
        ReadRecord {
            partition,
            offset,
            key: key.as_bytes().to_vec(),
            value: format!(r#"{{"eventId":"{event}","mode":"plain"}}"#).into_bytes(),
            headers: Vec::new(),
        }
    }

    #[test]
    fn exact_delivery_has_no_findings() {
        let sent: Vec<_> = (0..4).map(|i| event(i, "k")).collect();
        let records: Vec<_> = (0..4).map(|i| record(0, i as i64, &format!("e{i}"), "k")).collect();
        let v = analyse(&sent, &records);
        assert_eq!((v.records_in_topic, v.distinct_events, v.duplicates, v.lost, v.out_of_order), (4, 4, 0, 0, 0));
        assert_eq!(v.copy_histogram, BTreeMap::from([(1, 4)]));
    }

    #[test]
    fn duplicates_gaps_and_reorders_are_each_reported() {
        let sent: Vec<_> = (0..5).map(|i| event(i, if i % 2 == 0 { "a" } else { "b" })).collect();
        // e0 twice, e1 lost, e4 (key a) before e2 (key a): one reorder; plus a foreign record.
        let records = vec![
            record(0, 0, "e0", "a"),
            record(0, 1, "e0", "a"),
            record(0, 2, "e4", "a"),
            record(0, 3, "e2", "a"),
            record(0, 4, "e3", "b"),
            record(0, 5, "other", "z"),
        ];
        let v = analyse(&sent, &records);
        assert_eq!(v.records_in_topic, 5);
        assert_eq!(v.distinct_events, 4);
        assert_eq!(v.duplicates, 1);
        assert_eq!(v.lost, 1);
        assert_eq!(v.lost_acked, 1);
        assert_eq!(v.out_of_order, 1);
        assert_eq!(v.foreign_records, 1);
        assert_eq!(v.copy_histogram, BTreeMap::from([(0, 1), (1, 3), (2, 1)]));
    }

    #[test]
    fn order_is_judged_per_key_and_partition() {
        let sent = vec![event(0, "a"), event(1, "b")];
        // e1 before e0, but different keys: not a violation.
        let records = vec![record(0, 0, "e1", "b"), record(0, 1, "e0", "a")];
        assert_eq!(analyse(&sent, &records).out_of_order, 0);
        // Same key, different partitions: not comparable either.
        let sent = vec![event(0, "a"), event(1, "a")];
        let records = vec![record(1, 0, "e1", "a"), record(0, 0, "e0", "a")];
        assert_eq!(analyse(&sent, &records).out_of_order, 0);
    }
}
