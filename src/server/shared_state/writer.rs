//! The service's own producer for the state topic: idempotent (`acks=all`), with the cluster's
//! connection and security settings but its own batching: statuses come in bulks already
//! (`status_log`), so it lingers for nothing (not the `KAFKA_LINGER_MS` of the two producers the
//! caller chooses between). Each record's waiters hear of its acknowledgement. A fatal error
//! (the broker answered out of sequence: the idempotent session cannot go on) is signalled, and
//! the table renews the writer ([`StateWriter::renew_if_fatal`]).

use super::own_records::OwnRecords;
use super::record::{partition_for, StateRecord};
use crate::server::kafka::{describe_kafka_error, KafkaSettings};
use crate::server::status_table::StateAck;
use arc_swap::ArcSwap;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer};
use rdkafka::{ClientContext, Message};
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

/// Where one write's acknowledgement goes: (partition, offset) or why not.
pub type WriteAck = oneshot::Receiver<Result<(i32, i64), String>>;
/// The sending side of a [`WriteAck`].
pub type AckSender = oneshot::Sender<Result<(i32, i64), String>>;

/// Who hears of one record's acknowledgement: its waiters, and the slot it holds (released with
/// it, in librdkafka's thread, when the broker answered or the record failed).
#[derive(Default)]
pub struct Acks {
    pub waiters: Vec<AckSender>,
    pub slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// What to note of the record once acknowledged (see [`OwnRecords`]), set by the writer.
    own: Option<ToNote>,
}

/// A record to note in [`OwnRecords`]: the generation it was written in, its key, and the record
/// itself when it is an idempotency key's.
struct ToNote {
    generation: u64,
    key: String,
    keyed: Option<StateRecord>,
}

impl Acks {
    pub fn new(waiters: Vec<AckSender>, slot: Option<tokio::sync::OwnedSemaphorePermit>) -> Self {
        Self { waiters, slot, own: None }
    }

    fn answer(self, outcome: Result<(i32, i64), String>) {
        for waiter in self.waiters {
            let _ = waiter.send(outcome.clone());
        }
    }
}

/// Partitions a replica can follow even when it was configured with fewer: a topic made with more
/// by another replica is adopted (see [`StateWriter::adopt_partitions`]).
pub const MIN_PARTITION_SLOTS: i32 = 64;

/// What the writer counts, for `/metrics` and the view's lag.
#[derive(Default)]
pub struct WriterCounters {
    pub written: AtomicU64,
    pub failed: AtomicU64,
    /// Per partition slot, the highest offset the broker acknowledged to this writer.
    pub acked: Vec<AtomicI64>,
    /// Producers started anew (after a fatal error, or a broker that lost its state).
    pub renewed: AtomicU64,
    /// Where this replica's records landed, until the follower read them back.
    pub own: OwnRecords,
}

pub struct WriterContext {
    counters: Arc<WriterCounters>,
    /// Woken on every error: whoever waits checks whether it was fatal.
    trouble: Arc<Notify>,
}

impl ClientContext for WriterContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "state topic writer error");
        self.trouble.notify_one();
    }
}

impl ProducerContext for WriterContext {
    type DeliveryOpaque = Box<Acks>;

    fn delivery(&self, result: &DeliveryResult<'_>, mut ack: Self::DeliveryOpaque) {
        let outcome = match result {
            Ok(msg) => {
                self.counters.written.fetch_add(1, Ordering::Relaxed);
                if let Some(slot) = usize::try_from(msg.partition()).ok().and_then(|p| self.counters.acked.get(p)) {
                    slot.fetch_max(msg.offset(), Ordering::Relaxed);
                }
                if let Some(note) = ack.own.take() {
                    self.counters.own.note(note.generation, msg.partition(), msg.offset(), &note.key, note.keyed);
                }
                Ok((msg.partition(), msg.offset()))
            }
            Err((error, _)) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                self.trouble.notify_one();
                Err(format!("the state topic refused the write: {}", describe_kafka_error(error)))
            }
        };
        ack.answer(outcome);
    }
}

pub struct StateWriter {
    producer: ArcSwap<ThreadedProducer<WriterContext>>,
    config: ClientConfig,
    topic: String,
    /// The topic's partitions as found on the broker (until then, as configured).
    partitions: AtomicI32,
    counters: Arc<WriterCounters>,
    trouble: Arc<Notify>,
}

impl StateWriter {
    pub fn new(settings: &KafkaSettings, topic: &str, partitions: i32) -> Result<Self, KafkaError> {
        let slots = partitions.max(MIN_PARTITION_SLOTS);
        let counters = Arc::new(WriterCounters {
            acked: (0..slots).map(|_| AtomicI64::new(-1)).collect(),
            own: OwnRecords::new(slots as usize),
            ..Default::default()
        });
        let mut config = settings.client_config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("linger.ms", "0")
            // Its own queue, whatever KAFKA_PROPERTIES tunes for the caller's producers.
            .set("queue.buffering.max.messages", "100000")
            .set("queue.buffering.max.kbytes", "1048576")
            .set("message.timeout.ms", settings.delivery_timeout_ms.min(30_000).to_string());
        let trouble = Arc::new(Notify::new());
        let producer =
            config.create_with_context(WriterContext { counters: counters.clone(), trouble: trouble.clone() })?;
        Ok(Self {
            producer: ArcSwap::from_pointee(producer),
            config,
            topic: topic.to_owned(),
            partitions: AtomicI32::new(partitions),
            counters,
            trouble,
        })
    }

    /// Starts a new producer session: after the broker came back without its state, the old
    /// idempotent session's producer id is unknown there and its retries would never end; after
    /// a fatal error the old session cannot write at all. What the old producer still held fails
    /// (its waiters get the error). Blocking; true if renewed.
    pub fn renew(&self, why: &str) -> bool {
        let context = WriterContext { counters: self.counters.clone(), trouble: self.trouble.clone() };
        match self.config.create_with_context(context) {
            Ok(fresh) => {
                let old = self.producer.swap(Arc::new(fresh));
                // Where the old session's records landed no longer says anything about the topic
                // the new one writes to (created anew, when the broker lost it).
                self.counters.own.clear();
                old.purge(PurgeConfig::default().queue().inflight());
                let _ = old.flush(Duration::from_secs(1));
                self.counters.renewed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(why, "state topic writer renewed");
                true
            }
            Err(error) => {
                tracing::error!(%error, "cannot renew the state topic writer");
                false
            }
        }
    }

    /// Renews the writer if its producer hit a fatal error (see [`StateWriter::trouble`]).
    /// Blocking; true if renewed.
    pub fn renew_if_fatal(&self) -> bool {
        let fatal = self.producer.load().client().fatal_error();
        fatal.is_some_and(|(code, reason)| self.renew(&format!("fatal error {code:?}: {reason}")))
    }

    /// Resolves after the writer met an error (a transport error, a failed write): whether it
    /// was fatal is for [`StateWriter::renew_if_fatal`] to tell.
    pub async fn trouble(&self) {
        self.trouble.notified().await;
    }

    /// Raises a fatal error in the writer's producer (tests of the recovery: `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn inject_fatal_error(&self) {
        crate::server::kafka::raise_fatal_error(self.producer.load().client());
    }

    pub fn partitions(&self) -> i32 {
        self.partitions.load(Ordering::Acquire)
    }

    /// Adopts the partition count the topic has (made by another replica, or by an earlier
    /// version, with another `STATE_TOPIC_PARTITIONS`): every replica must place a key in the
    /// same partition, or two claims of one key could both win. Refused beyond this writer's
    /// slots (the configured count, at least [`MIN_PARTITION_SLOTS`]).
    pub fn adopt_partitions(&self, found: i32) -> Result<(), String> {
        let slots = self.counters.acked.len();
        if found < 1 || found as usize > slots {
            return Err(format!(
                "the state topic '{}' has {found} partitions; this replica follows at most {slots}: set \
                 STATE_TOPIC_PARTITIONS to {found}",
                self.topic
            ));
        }
        if found != self.partitions() {
            tracing::info!(topic = %self.topic, partitions = found, "the state topic's own partition count adopted");
        }
        self.partitions.store(found, Ordering::Release);
        Ok(())
    }

    pub fn counters(&self) -> &Arc<WriterCounters> {
        &self.counters
    }

    /// Writes a record to the partition its key lives in (or `partition`, for a marker); with
    /// `want_ack`, the receiver resolves with its partition and offset.
    pub fn write(&self, record: &StateRecord, partition: Option<i32>, want_ack: bool) -> Option<WriteAck> {
        let mut acks = Acks::default();
        let rx = want_ack.then(|| {
            let (tx, rx) = oneshot::channel();
            acks.waiters.push(tx);
            rx
        });
        self.write_for(record, partition, acks);
        rx
    }

    /// Writes a record to the partition its key names; resolves once it is acknowledged.
    pub fn write_acked(&self, record: &StateRecord) -> StateAck {
        self.write(record, None, true).map_or_else(StateAck::done, StateAck::pending)
    }

    /// Writes a record whose acknowledgement goes to `acks` (every waiter hears of it).
    pub fn write_for(&self, record: &StateRecord, partition: Option<i32>, mut acks: Acks) {
        let key = record.key();
        let keyed = matches!(record, StateRecord::Claim(_) | StateRecord::Answer(_) | StateRecord::Release(_));
        let generation = self.counters.own.generation();
        acks.own = Some(ToNote { generation, key: key.clone(), keyed: keyed.then(|| record.clone()) });
        let value = record.encode();
        let partition = partition.unwrap_or_else(|| partition_for(key.as_bytes(), self.partitions()));
        let out =
            BaseRecord::with_opaque_to(&self.topic, Box::new(acks)).key(&key).partition(partition).payload(&value);
        if let Err((error, returned)) = self.producer.load().send(out) {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            self.trouble.notify_one();
            returned
                .delivery_opaque
                .answer(Err(format!("the state topic write was refused: {}", describe_kafka_error(&error))));
        }
    }

    /// Waits up to `timeout` for every write; returns how many remain. Blocking.
    pub fn flush(&self, timeout: Duration) -> i32 {
        let producer = self.producer.load_full();
        let _ = producer.flush(timeout);
        producer.in_flight_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::Config;

    fn writer(configured: i32) -> StateWriter {
        // No broker is reached: librdkafka connects lazily.
        let settings = KafkaSettings::new(&Config::defaults(), "127.0.0.1:9".into());
        StateWriter::new(&settings, "state", configured).expect("writer")
    }

    #[test]
    fn the_topics_own_partition_count_is_adopted_within_the_slots() {
        let writer = writer(1);
        assert!(writer.adopt_partitions(3).is_ok());
        assert_eq!(writer.partitions(), 3, "a topic made with 3 by another replica");
        let refused = writer.adopt_partitions(65).expect_err("beyond 64 slots");
        assert!(refused.contains("STATE_TOPIC_PARTITIONS to 65"), "{refused}");
        assert_eq!(writer.partitions(), 3, "a refused count changes nothing");
        assert!(self::writer(100).adopt_partitions(100).is_ok(), "configured with more: as many slots");
    }

    #[test]
    fn a_renewed_writer_forgets_where_the_old_sessions_records_landed() {
        let writer = writer(1);
        let own = &writer.counters().own;
        own.note(own.generation(), 0, 0, "marker/me", None);
        assert!(own.read(0, 0, 0, "x").is_some());
        assert!(writer.renew("test"));
        assert!(own.read(0, 0, 0, "x").is_none(), "a topic created anew starts its offsets again");
    }
}
