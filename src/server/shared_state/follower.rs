//! Follows the state topic from its beginning into this replica's view, on a thread of its own
//! (librdkafka's consumer blocks). It publishes how far it has read in each partition, so a
//! catch-up can wait until the view holds everything written before a marker.
//!
//! Between two reads that brought records it rests (its partitions paused) for up to [`REST`],
//! unless someone waits on it (a catch-up, a claim, a repeat waiting for an answer) or more than
//! [`REST_BACKLOG`] of this replica's own records wait to be read (before the rest or during
//! it): each read costs the broker a fetch (on Tansu, a listing of the whole partition), and a
//! busy replica's own bulks would otherwise be fetched back 20 times a second. Whoever waits
//! wakes it at once. With no other replica alive it rests up to [`REST_ALONE`]: there is nothing
//! but its own records to read.

use super::record::StateRecord;
use super::view::{now_ms, StateView};
use super::writer::WriterCounters;
use crate::server::kafka::KafkaSettings;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Records applied in one go before the progress is published.
const BATCH: usize = 1024;

/// The longest rest between two reads that brought records, while nobody waits.
pub const REST: Duration = Duration::from_millis(200);
/// The same while no other replica is alive: the follower then reads back only this replica's
/// own records and heartbeats (a newcomer is seen within this; a lookup it misses wakes it).
pub const REST_ALONE: Duration = Duration::from_secs(1);
/// More of this replica's own records than this waiting to be read: no rest. (256 kept a
/// follower under keyed load fetching without pause, its claims and answers being a record each:
/// on Tansu every fetch lists each partition read, and 4,096 gave 4.6-4.7k keyed req/s against
/// 3.4k, with the view still catching up within seconds; docs/idempotency.md.)
const REST_BACKLOG: i64 = 4096;
/// How often a resting follower looks at that backlog.
const BACKLOG_CHECK: Duration = Duration::from_millis(20);

/// How far the follower has read, shared with whoever waits on it.
pub struct Progress {
    /// Per partition, the offset of the last record applied (-1: none yet).
    positions: Vec<AtomicI64>,
    /// What this replica's writer had acknowledged (its own records, to be read back).
    written: Arc<WriterCounters>,
    /// Bumped after each batch applied.
    tick: watch::Sender<u64>,
    pub applied: AtomicU64,
    /// Milliseconds between a record's timestamp and its application, for the last record.
    pub last_delay_ms: AtomicI64,
    /// The same delay, in seconds, for every record written since this replica started
    /// (`state_view_lag_seconds`; the rebuild of older ones is not lag).
    pub lag: Histogram,
    started_ms: i64,
    /// Who waits on the follower now: while anyone does, it does not rest.
    waiting: AtomicUsize,
    woken: parking_lot::Mutex<()>,
    wake: parking_lot::Condvar,
}

/// Keeps the follower awake while it lives (see [`Progress::awake`]).
pub struct Awake<'a>(&'a Progress);

impl Drop for Awake<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Progress {
    /// As many partition slots as the writer has.
    pub fn new(written: Arc<WriterCounters>) -> Self {
        let (tick, _) = watch::channel(0);
        Self {
            positions: written.acked.iter().map(|_| AtomicI64::new(-1)).collect(),
            written,
            tick,
            applied: AtomicU64::new(0),
            last_delay_ms: AtomicI64::new(0),
            // 0.5 ms to ~16 s.
            lag: Histogram::new(exponential_buckets(0.000_5, 2.0, 16)),
            started_ms: now_ms(),
            waiting: AtomicUsize::new(0),
            woken: parking_lot::Mutex::new(()),
            wake: parking_lot::Condvar::new(),
        }
    }

    /// Wakes the follower and keeps it reading without rest until the guard is dropped.
    pub fn awake(&self) -> Awake<'_> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _woken = self.woken.lock();
        self.wake.notify_all();
        Awake(self)
    }

    /// The follower's rest: up to `bound`, ended early by anyone who waits on it, or once more
    /// than [`REST_BACKLOG`] of this replica's own records wait to be read (a rest of a second
    /// under load left thousands behind; on Tansu the fetch in flight when partitions pause is
    /// thrown away, and the next, larger one took seconds). Blocking.
    fn rest(&self, bound: Duration) {
        let until = std::time::Instant::now() + bound;
        let mut woken = self.woken.lock();
        while self.may_rest() {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            let _ = self.wake.wait_for(&mut woken, left.min(BACKLOG_CHECK));
        }
    }

    fn is_awaited(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }

    /// Nobody waits on the follower and few of this replica's own records wait to be read.
    fn may_rest(&self) -> bool {
        !self.is_awaited() && self.own_backlog() <= REST_BACKLOG
    }

    /// Forgets how far it read: the topic was created anew (the broker lost it).
    pub fn reset(&self) {
        self.written.own.clear();
        for (position, written) in self.positions.iter().zip(&self.written.acked) {
            position.store(-1, Ordering::Release);
            written.store(-1, Ordering::Release);
        }
    }

    /// Records this replica wrote that the view has not read back yet, over every partition.
    pub fn own_backlog(&self) -> i64 {
        self.positions
            .iter()
            .zip(&self.written.acked)
            .map(|(position, written)| (written.load(Ordering::Relaxed) - position.load(Ordering::Acquire)).max(0))
            .sum()
    }

    pub fn position(&self, partition: i32) -> i64 {
        usize::try_from(partition).ok().and_then(|p| self.positions.get(p)).map_or(-1, |a| a.load(Ordering::Acquire))
    }

    fn reached(&self, targets: &[(i32, i64)]) -> bool {
        targets.iter().all(|(p, offset)| self.position(*p) >= *offset)
    }

    /// Waits until every partition was read at least up to its target offset, within `bound`.
    pub async fn wait_until(&self, targets: &[(i32, i64)], bound: Duration) -> bool {
        let _awake = self.awake();
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
        // Past that queue librdkafka waits this long before its next fetch (1 s by default: a
        // view megabytes behind took seconds to catch up, past the bound of a lookup it missed).
        .set("fetch.queue.backoff.ms", "5")
        // After a rest, one fetch brings what came meanwhile (librdkafka caps a fetch at the queue's size).
        .set("max.partition.fetch.bytes", "4194304")
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn progress(written: &[i64]) -> Progress {
        let counters =
            WriterCounters { acked: written.iter().map(|w| AtomicI64::new(*w)).collect(), ..Default::default() };
        Progress::new(Arc::new(counters))
    }

    #[test]
    fn a_waiter_ends_the_followers_rest_at_once() {
        let progress = Arc::new(progress(&[-1]));
        let (rested, rest_over) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn({
            let progress = progress.clone();
            move || {
                let _awake = progress.awake();
                // Held until the rest is over, whether it began before this waiter or after.
                let _ = rest_over.recv_timeout(Duration::from_secs(60));
            }
        });
        let started = Instant::now();
        progress.rest(Duration::from_secs(30));
        let took = started.elapsed();
        let _ = rested.send(());
        waiter.join().expect("waiter");
        assert!(took < Duration::from_secs(10), "rested {took:?} with a waiter");
        assert!(!progress.is_awaited(), "the guard gave its place back");
    }

    #[test]
    fn a_rest_ends_once_its_own_records_pile_up() {
        let progress = Arc::new(progress(&[-1]));
        let resting = std::thread::spawn({
            let progress = progress.clone();
            move || {
                let started = Instant::now();
                progress.rest(Duration::from_secs(30));
                started.elapsed()
            }
        });
        // The writer's acknowledgements move on while the follower rests.
        progress.written.acked[0].store(REST_BACKLOG + 1, Ordering::Release);
        let took = resting.join().expect("rest");
        assert!(took < Duration::from_secs(10), "rested {took:?} with {} own records unread", REST_BACKLOG + 2);
    }

    #[test]
    fn the_backlog_counts_own_records_not_read_back() {
        let progress = progress(&[9, 4]);
        assert_eq!(progress.own_backlog(), 15, "offsets 0..=9 and 0..=4, nothing read");
        progress.positions[0].store(7, Ordering::Release);
        progress.positions[1].store(6, Ordering::Release);
        assert_eq!(progress.own_backlog(), 2, "a partition read past its own writes counts nothing");
        progress.reset();
        assert_eq!(progress.own_backlog(), 0, "a topic created anew starts from nothing");
    }
}
