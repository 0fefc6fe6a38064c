//! Reading the log back to a claim, at once. The follower reads the whole topic and may be
//! waiting in a fetch the broker holds (Tansu holds every fetch for its `fetch.wait.max.ms`);
//! a claim only needs the records of its own key between where the follower stands and the
//! claim. This reader fetches exactly that, with no wait, in rounds: every read-back waiting when
//! a round starts is served by it (one consumer, assigned the partitions a round needs from the
//! lowest offset asked, unassigned after), unless more than [`ROUND_MAX`] wait or the last round
//! was slow: a replica that busy is fetching all the time, and its follower serves them all at
//! once. It applies nothing: the claimer replays what it read onto its own copy of the key's
//! entry (see `keys`), so the follower stays the one writer of the view, in log order.

use super::record::StateRecord;
use crate::server::kafka::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// The records of one key in one partition, with their offsets, in log order.
pub type KeyRecords = Vec<(i64, StateRecord)>;

/// One read-back: the records keyed `record_key` in `partition`, offsets `from..=to`.
struct ReadBack {
    partition: i32,
    from: i64,
    to: i64,
    record_key: String,
    reply: oneshot::Sender<KeyRecords>,
}

/// Claims one round serves at most (more waiting at once are left to the follower).
const ROUND_MAX: usize = 8;
/// A round slower than this means a busy broker: the next [`REST`] is left to the follower.
const SLOW_ROUND: Duration = Duration::from_millis(30);
const REST: Duration = Duration::from_millis(250);

/// How long one round may take before the reads still waiting are given up (their claims then
/// wait for the follower).
const ROUND_BOUND: Duration = Duration::from_secs(2);

/// The consumer: no group, nothing committed, no partition until a round assigns it; a fetch
/// the broker answers at once.
pub fn reader_consumer(settings: &KafkaSettings) -> Result<BaseConsumer, KafkaError> {
    settings
        .client_config()
        .set("group.id", format!("producer-reliability-claims-{}", uuid::Uuid::new_v4().simple()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "0")
        .set("queued.max.messages.kbytes", "4096")
        // Past that queue, librdkafka waits this long before it fetches again (1 s by default:
        // a round over a few megabytes then outlasted its bound).
        .set("fetch.queue.backoff.ms", "5")
        .create()
}

/// A started reader: where read-backs go, its stop signal, its thread.
type Running = (mpsc::Sender<ReadBack>, CancellationToken, std::thread::JoinHandle<()>);

/// The reader's thread, started again with a new consumer when the topic was created anew.
pub struct ClaimReader {
    /// Claims decided by a read-back (before the follower got there).
    pub decided: AtomicU64,
    topic: String,
    current: parking_lot::Mutex<Option<Running>>,
    parent: CancellationToken,
}

impl ClaimReader {
    pub fn new(topic: &str, parent: CancellationToken) -> Self {
        Self { decided: AtomicU64::new(0), topic: topic.to_owned(), current: parking_lot::Mutex::new(None), parent }
    }

    pub fn start(&self, consumer: BaseConsumer) -> std::io::Result<()> {
        self.stop();
        let (tx, rx) = mpsc::channel();
        let stop = self.parent.child_token();
        let (topic, thread_stop) = (self.topic.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("claim-reader".into())
            .spawn(move || serve(&consumer, &topic, &rx, &thread_stop))?;
        *self.current.lock() = Some((tx, stop, thread));
        Ok(())
    }

    /// Stops the thread and waits for it (within a round). Blocking.
    pub fn stop(&self) {
        if let Some((_, stop, thread)) = self.current.lock().take() {
            stop.cancel();
            let _ = thread.join();
        }
    }

    /// The records keyed `record_key` in `partition` from `from` to `to` (inclusive); `None`
    /// when they could not all be read (the claimer then waits for the follower).
    pub async fn read(&self, partition: i32, from: i64, to: i64, record_key: String) -> Option<KeyRecords> {
        let (reply, answer) = oneshot::channel();
        let request = ReadBack { partition, from, to, record_key, reply };
        let sent = self.current.lock().as_ref().map(|(tx, _, _)| tx.send(request).is_ok());
        if sent != Some(true) {
            return None;
        }
        answer.await.ok()
    }
}

impl Drop for ClaimReader {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(consumer: &BaseConsumer, topic: &str, requests: &mpsc::Receiver<ReadBack>, stop: &CancellationToken) {
    // Its leaders known before the first round assigns anything.
    super::follower::learn_leaders(consumer, topic);
    let mut resting_until: Option<Instant> = None;
    while !stop.is_cancelled() {
        let first = match requests.recv_timeout(Duration::from_millis(100)) {
            Ok(first) => first,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let round: Vec<ReadBack> = std::iter::once(first).chain(requests.try_iter()).collect();
        // Many claims at once, or a broker slow to answer the last round: the replica is busy,
        // its follower fetches all the time and serves every claim with one fetch; a round of
        // reads would only add to the broker's load. (Dropped read-backs wait for the follower.)
        if round.len() > ROUND_MAX || resting_until.is_some_and(|until| Instant::now() < until) {
            continue;
        }
        let started = Instant::now();
        let (claims, result) = (round.len(), read_round(consumer, topic, round));
        let took = started.elapsed();
        resting_until = (took > SLOW_ROUND).then(|| Instant::now() + REST);
        tracing::debug!(claims, took_us = took.as_micros() as u64, "state topic: claims read back");
        if let Err(error) = result {
            tracing::debug!(%error, "state topic: a claim read-back round failed (claims wait for the follower)");
        }
    }
}

/// One round: every partition asked for, from the lowest offset asked to the highest; each
/// read-back gets its key's records once its partition was read to its end.
fn read_round(consumer: &BaseConsumer, topic: &str, round: Vec<ReadBack>) -> Result<(), KafkaError> {
    // Per partition: (from, to).
    let mut spans: HashMap<i32, (i64, i64)> = HashMap::new();
    for r in &round {
        let span = spans.entry(r.partition).or_insert((r.from, r.to));
        *span = (span.0.min(r.from), span.1.max(r.to));
    }
    let mut assignment = TopicPartitionList::new();
    for (partition, (from, _)) in &spans {
        assignment.add_partition_offset(topic, *partition, Offset::Offset(*from))?;
    }
    consumer.assign(&assignment)?;
    let mut found: HashMap<(i32, String), KeyRecords> = HashMap::new();
    let mut unread: HashMap<i32, i64> = spans.iter().map(|(p, (_, to))| (*p, *to)).collect();
    let deadline = Instant::now() + ROUND_BOUND;
    while !unread.is_empty() && Instant::now() < deadline {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(10)) else { continue };
        let (partition, offset) = (message.partition(), message.offset());
        if let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) {
            let asked = round.iter().any(|r| r.partition == partition && r.record_key == key);
            if let Some(record) = asked.then(|| message.payload().and_then(StateRecord::decode)).flatten() {
                found.entry((partition, key.to_owned())).or_default().push((offset, record));
            }
        }
        if unread.get(&partition).is_some_and(|to| offset >= *to) {
            unread.remove(&partition);
        }
    }
    consumer.assign(&TopicPartitionList::new())?;
    for r in round {
        if unread.contains_key(&r.partition) {
            continue; // dropped: the claimer waits for the follower
        }
        let records = found.get(&(r.partition, r.record_key.clone())).map_or_else(Vec::new, |all| {
            all.iter().filter(|(offset, _)| (r.from..=r.to).contains(offset)).cloned().collect()
        });
        let _ = r.reply.send(records);
    }
    Ok(())
}
