//! Follows the state topic from its beginning into this replica's view, on a thread of its own
//! (librdkafka's consumer blocks). It publishes how far it has read in each partition, so a
//! catch-up can wait until the view holds everything written before a marker.

use super::record::StateRecord;
use super::view::{now_ms, StateView};
use crate::server::kafka::KafkaSettings;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Records applied in one go before the progress is published.
const BATCH: usize = 1024;

/// How far the follower has read, shared with whoever waits on it.
pub struct Progress {
    /// Per partition, the offset of the last record applied (-1: none yet).
    positions: Vec<AtomicI64>,
    /// Bumped after each batch applied.
    tick: watch::Sender<u64>,
    pub applied: AtomicU64,
    /// Milliseconds between a record's timestamp and its application, for the last record.
    pub last_delay_ms: AtomicI64,
    /// The same delay, in seconds, for every record written since this replica started
    /// (`state_view_lag_seconds`; the rebuild of older ones is not lag).
    pub lag: Histogram,
    started_ms: i64,
}

impl Progress {
    pub fn new(partitions: i32) -> Self {
        let (tick, _) = watch::channel(0);
        Self {
            positions: (0..partitions).map(|_| AtomicI64::new(-1)).collect(),
            tick,
            applied: AtomicU64::new(0),
            last_delay_ms: AtomicI64::new(0),
            // 0.5 ms to ~16 s.
            lag: Histogram::new(exponential_buckets(0.000_5, 2.0, 16)),
            started_ms: now_ms(),
        }
    }

    /// Forgets how far it read: the topic was created anew (the broker lost it).
    pub fn reset(&self) {
        for position in &self.positions {
            position.store(-1, Ordering::Release);
        }
    }

    pub fn position(&self, partition: i32) -> i64 {
        usize::try_from(partition).ok().and_then(|p| self.positions.get(p)).map_or(-1, |a| a.load(Ordering::Acquire))
    }

    fn reached(&self, targets: &[(i32, i64)]) -> bool {
        targets.iter().all(|(p, offset)| self.position(*p) >= *offset)
    }

    /// Waits until every partition was read at least up to its target offset, within `bound`.
    pub async fn wait_until(&self, targets: &[(i32, i64)], bound: Duration) -> bool {
        let mut tick = self.tick.subscribe();
        let wait = async {
            while !self.reached(targets) {
                if tick.changed().await.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(bound, wait).await.unwrap_or(false)
    }
}

/// The consumer: assigned every partition from the beginning, in no group, committing nothing.
/// `fetch_wait_ms`: how long the broker may hold a fetch while it has nothing new. Kafka answers
/// as soon as a record arrives; Tansu holds every fetch this long, and each of its in-memory
/// fetches lists every batch of the partition, so a short wait makes a busy state topic cost the
/// broker more than the sends it records.
pub fn consumer(
    settings: &KafkaSettings,
    topic: &str,
    partitions: i32,
    fetch_wait_ms: u32,
) -> Result<BaseConsumer, KafkaError> {
    let consumer: BaseConsumer = settings
        .client_config()
        .set("group.id", format!("producer-reliability-state-{}", uuid::Uuid::new_v4().simple()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
        .set("queued.max.messages.kbytes", "4096")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// Reads until `stop`, or until nobody but this reader holds the view (the service it served is
/// gone), applying every record to the view. Blocking: run it on its own thread.
pub fn follow(consumer: BaseConsumer, view: Arc<StateView>, progress: Arc<Progress>, stop: CancellationToken) {
    while !stop.is_cancelled() && Arc::strong_count(&view) > 1 {
        let Some(first) = consumer.poll(Duration::from_millis(100)) else { continue };
        let mut next = Some(first);
        let mut applied = 0;
        while let Some(result) = next {
            match result {
                Ok(message) => apply(&message, &view, &progress),
                Err(error) => tracing::debug!(%error, "state topic: consumer error (retrying)"),
            }
            applied += 1;
            next = if applied < BATCH { consumer.poll(Duration::ZERO) } else { None };
        }
        progress.tick.send_modify(|t| *t += 1);
    }
}

fn apply(message: &BorrowedMessage<'_>, view: &StateView, progress: &Progress) {
    // This replica's own bulks of statuses are in its view already: not even decoded.
    let own = message.key().is_some_and(|k| k.starts_with(view.own_bulks.as_bytes()));
    // A tombstone (this version writes none) has nothing to apply.
    if let Some(value) = message.payload() {
        let ts = message.timestamp().to_millis().unwrap_or_default();
        match (!own).then(|| StateRecord::decode(value)).flatten() {
            Some(record) => view.apply(record, ts, message.offset()),
            None if own => {}
            None => tracing::debug!(offset = message.offset(), "state topic: a record this version does not read"),
        }
        let delay = (now_ms() - ts).max(0);
        progress.last_delay_ms.store(delay, Ordering::Relaxed);
        if ts >= progress.started_ms {
            progress.lag.observe(delay as f64 / 1000.0);
        }
    }
    if let Some(slot) = usize::try_from(message.partition()).ok().and_then(|p| progress.positions.get(p)) {
        slot.store(message.offset(), Ordering::Release);
    }
    progress.applied.fetch_add(1, Ordering::Relaxed);
}

/// The follower's thread: started (again, when the topic was created anew) and stopped with its
/// own signal, a child of the service's shutdown; joined when it goes, so that no thread is left
/// inside librdkafka when the process exits.
pub struct Following {
    parent: CancellationToken,
    current: parking_lot::Mutex<Option<(CancellationToken, std::thread::JoinHandle<()>)>>,
}

impl Following {
    pub fn new(parent: CancellationToken) -> Self {
        Self { parent, current: parking_lot::Mutex::new(None) }
    }

    /// Starts a thread following with `consumer`; the receiver resolves when it ended.
    pub fn start(
        &self,
        consumer: BaseConsumer,
        view: Arc<StateView>,
        progress: Arc<Progress>,
    ) -> std::io::Result<tokio::sync::oneshot::Receiver<()>> {
        let stop = self.parent.child_token();
        let (done, ended) = tokio::sync::oneshot::channel();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new().name("state-follower".into()).spawn(move || {
            follow(consumer, view, progress, thread_stop);
            let _ = done.send(());
        })?;
        *self.current.lock() = Some((stop, thread));
        Ok(ended)
    }

    /// Stops the thread and waits for it (within a poll, 100 ms). Blocking.
    pub fn stop(&self) {
        if let Some((stop, thread)) = self.current.lock().take() {
            stop.cancel();
            let _ = thread.join();
        }
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        self.stop();
    }
}
