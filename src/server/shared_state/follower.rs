//! Follows the state topic from its beginning into this replica's view, on a thread of its own
//! (librdkafka's consumer blocks). It publishes how far it has read in each partition, so a
//! catch-up can wait until the view holds everything written before a marker.
//!
//! Between two reads that brought records it rests (its partitions paused) for up to [`REST`],
//! unless someone waits on it (a catch-up, a claim, a repeat waiting for an answer) or more than
//! [`REST_BACKLOG`](super::progress::REST_BACKLOG) of this replica's own records wait to be read
//! (before the rest or during it): each read costs the broker a fetch (on Tansu, a listing of the
//! whole partition), and a busy replica's own bulks would otherwise be fetched back 20 times a
//! second. Whoever waits wakes it at once. With no other replica alive it rests up to
//! [`REST_ALONE`]: there is nothing but its own records to read.

pub use super::progress::Progress;
use super::record::StateRecord;
use super::view::{now_ms, StateView};
use crate::server::kafka::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Records applied in one go before the progress is published.
const BATCH: usize = 1024;

/// The longest rest between two reads that brought records, while nobody waits.
pub const REST: Duration = Duration::from_millis(200);
/// The same while no other replica is alive: the follower then reads back only this replica's
/// own records and heartbeats (a newcomer is seen within this; a lookup it misses wakes it).
pub const REST_ALONE: Duration = Duration::from_secs(1);
/// The consumer: assigned every partition from the beginning once the topic's leaders are known
/// ([`learn_leaders`]), in no group, committing nothing. Blocking. `fetch_wait_ms`: how long the
/// broker may hold a fetch while it has nothing new. Kafka answers as soon as a record arrives;
/// Tansu holds every fetch this long, and each of its in-memory fetches lists every batch of the
/// partition, so a short wait makes a busy state topic cost the broker more than the sends it
/// records.
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
        // Past that queue librdkafka waits this long before its next fetch (1 s by default: a
        // view megabytes behind took seconds to catch up, past the bound of a lookup it missed).
        .set("fetch.queue.backoff.ms", "5")
        // After a rest, one fetch brings what came meanwhile (librdkafka caps a fetch at the queue's size).
        .set("max.partition.fetch.bytes", "4194304")
        .create()?;
    learn_leaders(&consumer, topic);
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// How long a reader of the state topic waits for its metadata before it assigns partitions.
const METADATA_BOUND: Duration = Duration::from_secs(5);

/// Asks for the topic's metadata (within [`METADATA_BOUND`]), before a partition is assigned: one
/// assigned while its leader is unknown waits for librdkafka's offset query timer (500 ms) before
/// it reads anything, which made start-up to ready take 672-736 ms on a fresh embedded broker
/// against 177-277 ms with the metadata first. Blocking.
pub fn learn_leaders(consumer: &BaseConsumer, topic: &str) {
    if let Err(error) = consumer.fetch_metadata(Some(topic), METADATA_BOUND) {
        tracing::debug!(%error, "state topic: no metadata yet (librdkafka looks the leaders up itself)");
    }
}

/// Reads until `stop`, or until nobody but this reader holds the view (the service it served is
/// gone), applying every record to the view. Blocking: run it on its own thread.
pub fn follow(consumer: BaseConsumer, view: Arc<StateView>, progress: Arc<Progress>, stop: CancellationToken) {
    let partitions = consumer.assignment().unwrap_or_default();
    let mut paused = false;
    while !stop.is_cancelled() && Arc::strong_count(&view) > 1 {
        if paused {
            paused = !resumed(&consumer, &partitions);
        }
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
        // Records came, no more are queued, few of its own wait: rest (no fetch meanwhile).
        let resting = applied < BATCH && progress.may_rest();
        if resting && consumer.pause(&partitions).is_ok() {
            let alone = !view.replicas.others_alive(&view.me);
            progress.rest(if alone { REST_ALONE } else { REST });
            paused = !resumed(&consumer, &partitions);
        }
    }
}

/// Resumes the paused partitions from where the view stands; false if librdkafka refused.
fn resumed(consumer: &BaseConsumer, partitions: &TopicPartitionList) -> bool {
    consumer
        .resume(partitions)
        .inspect_err(|error| tracing::warn!(%error, "state topic: could not resume the follower (trying again)"))
        .is_ok()
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
    progress.written.own.confirm(message.partition(), message.offset(), message.key());
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
