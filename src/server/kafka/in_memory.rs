//! Kafka as a map in memory, behind the seam's traits: records are "delivered" as they are handed
//! over, at the next offset of their partition. For router and contract tests that make no claim
//! about Kafka (they run in milliseconds, with no broker); every claim about records is tested
//! against a real broker.

use super::port::{OutgoingRecord, RecordProducer, TopicCatalog, Vanished};
use super::reports::{DeliveryReports, DeliveryTicket};
use crate::error::AppError;
use crate::model::ProducerMode;
use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A record as the in-memory log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

pub struct InMemoryKafka {
    reports: Arc<DeliveryReports>,
    partitions: i32,
    topics: Mutex<HashMap<String, Vec<Vec<StoredRecord>>>>,
    /// How many times the producers were told to start afresh after an outage.
    renewals: AtomicU64,
}

impl InMemoryKafka {
    /// Topics are created with `partitions` partitions when first used.
    pub fn new(reports: Arc<DeliveryReports>, partitions: i32) -> Self {
        Self { reports, partitions: partitions.max(1), topics: Mutex::new(HashMap::new()), renewals: AtomicU64::new(0) }
    }

    /// How many times the producers started afresh after an outage.
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }

    /// Deletes a topic with its records, as a broker that lost its state does.
    pub fn drop_topic(&self, topic: &str) {
        self.topics.lock().remove(topic);
    }

    /// Every record of a topic, partition by partition.
    pub fn records(&self, topic: &str) -> Vec<StoredRecord> {
        self.topics.lock().get(topic).map(|parts| parts.iter().flatten().cloned().collect()).unwrap_or_default()
    }

    fn append(&self, record: &OutgoingRecord<'_>) -> Result<(i32, i64), AppError> {
        let mut topics = self.topics.lock();
        let partitions = topics
            .get_mut(record.topic)
            .ok_or_else(|| AppError::broker(format!("Kafka refused the record: unknown topic '{}'", record.topic)))?;
        let count = partitions.len() as i32;
        let partition = match record.partition {
            Some(p) if p < count => p,
            Some(p) => {
                return Err(AppError::invalid(
                    crate::model::Field::Partition,
                    format!("Partition {p} does not exist in topic '{}'", record.topic),
                ))
            }
            None => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                record.key.hash(&mut hasher);
                (hasher.finish() % count as u64) as i32
            }
        };
        let log = &mut partitions[partition as usize];
        let offset = log.len() as i64;
        let headers = record.headers.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect();
        log.push(StoredRecord { partition, offset, key: record.key.to_owned(), value: record.value.to_vec(), headers });
        Ok((partition, offset))
    }
}

impl RecordProducer for InMemoryKafka {
    fn send<'a>(
        &'a self,
        mode: ProducerMode,
        record: OutgoingRecord<'a>,
        ticket: Box<DeliveryTicket>,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        let appended = self.append(&record);
        async move {
            let at = appended?;
            self.reports.deliver(mode, *ticket, record.topic, Ok(at));
            Ok(())
        }
        .boxed()
    }

    fn in_flight(&self) -> i32 {
        0
    }

    fn flush(&self, _timeout: Duration) -> i32 {
        0
    }

    fn last_failure(&self) -> Option<String> {
        None
    }

    fn renew_after_outage(&self, _cause: &str, _state_lost: bool) -> BoxFuture<'_, ()> {
        self.renewals.fetch_add(1, Ordering::Relaxed);
        async {}.boxed()
    }
}

impl TopicCatalog for InMemoryKafka {
    fn partitions<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<i32, AppError>> {
        let mut topics = self.topics.lock();
        let count = topics.entry(topic.to_owned()).or_insert_with(|| vec![Vec::new(); self.partitions as usize]).len();
        async move { Ok(count as i32) }.boxed()
    }

    fn forget(&self, _topic: Option<&str>) {}

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, AppError>> {
        let mut names: Vec<String> = self.topics.lock().keys().cloned().collect();
        names.sort();
        async move { Ok(names) }.boxed()
    }

    fn probe(&self) -> BoxFuture<'_, Result<Vec<String>, AppError>> {
        self.list()
    }

    fn vanished(&self, _listed: &[String]) -> Vanished {
        Vanished::default()
    }
}
