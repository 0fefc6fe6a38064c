//! This replica's status changes, written in bulk (group commit). Every change joins the open
//! bulk; the bulk goes to the state topic as one record as soon as one of [`IN_FLIGHT`] slots is
//! free. A lone send waits one round trip to the broker, with no timer; many concurrent sends
//! share one record, its one acknowledgement and one read by every follower, where a record per
//! change cost librdkafka's threads and the broker several times the send itself.
//!
//! A replica's bulks go to the partitions in turn: on Tansu's in-memory engine reading a batch
//! costs a listing of its partition, and one partition holding every bulk made a busy replica's
//! followers fall seconds behind. Followers may then read them out of order; the view keeps each
//! send's latest state ([`StateView`](super::view::StateView)). Each has a key of its own
//! (`statuses/<replica>/<sequence>`), so the topic's age rule, not compaction, ends them.

use super::record::{partition_for, status_bulk_prefix, StateRecord, StatusBulk, StatusRecord};
use super::writer::{AckSender, Acks, StateWriter, WriteAck};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Bulks waiting for the broker at once: one written while the other is answered.
const IN_FLIGHT: usize = 2;

/// A bulk of at least this many changes means the replica is busy: the next waits for the
/// linger (see [`StatusLog::run`]).
const BUSY: usize = 16;

/// Status changes in one record at most (about 250 bytes each: well under a megabyte).
const MAX_BULK: usize = 2000;

#[derive(Default)]
struct OpenBulk {
    statuses: Vec<StatusRecord>,
    forgotten: Vec<Uuid>,
    waiters: Vec<AckSender>,
}

impl OpenBulk {
    /// The status changes it holds (a forgotten send is one).
    fn changes(&self) -> usize {
        self.statuses.len() + self.forgotten.len()
    }

    fn is_empty(&self) -> bool {
        self.changes() == 0
    }

    /// Up to [`MAX_BULK`] changes, oldest first, with every waiter once the rest fit too.
    fn take(&mut self) -> OpenBulk {
        if self.changes() <= MAX_BULK {
            return std::mem::take(self);
        }
        // A backlog: the oldest statuses go now; waiters and forgotten sends (which follow
        // their statuses) wait for the last part.
        let rest = self.statuses.split_off(MAX_BULK.min(self.statuses.len()));
        OpenBulk { statuses: std::mem::replace(&mut self.statuses, rest), ..Default::default() }
    }
}

pub struct StatusLog {
    writer: Arc<StateWriter>,
    replica: String,
    /// The key prefix of this replica's bulks (followers skip their own by it).
    prefix: String,
    /// `STATE_LINGER_MS`: the least time between two busy bulks.
    linger: Duration,
    open: Mutex<OpenBulk>,
    wake: Notify,
    slots: Arc<Semaphore>,
    sequence: AtomicU64,
    /// Status changes handed to the writer (a bulk holds many).
    pub changes_written: AtomicU64,
}

impl StatusLog {
    pub fn new(writer: Arc<StateWriter>, replica: &str, linger: Duration) -> Self {
        Self {
            writer,
            replica: replica.to_owned(),
            prefix: status_bulk_prefix(replica),
            linger,
            open: Mutex::new(OpenBulk::default()),
            wake: Notify::new(),
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
            sequence: AtomicU64::new(0),
            changes_written: AtomicU64::new(0),
        }
    }

    /// Adds a status change to the open bulk; with `want_ack`, the receiver resolves once the
    /// bulk it went in is acknowledged.
    pub fn push(&self, status: StatusRecord, want_ack: bool) -> Option<WriteAck> {
        let rx = {
            let mut open = self.open.lock();
            open.statuses.push(status);
            want_ack.then(|| {
                let (tx, rx) = oneshot::channel();
                open.waiters.push(tx);
                rx
            })
        };
        self.wake.notify_one();
        rx
    }

    /// Adds the statuses `current` returns, read while no other change can join the open bulk:
    /// a change made meanwhile is written after them, so the log still ends with each send's
    /// latest status (after the writer was renewed, what the old session held is lost).
    pub fn rewrite(&self, current: impl FnOnce() -> Vec<StatusRecord>) -> usize {
        let count = {
            let mut open = self.open.lock();
            let statuses = current();
            let count = statuses.len();
            open.statuses.extend(statuses);
            count
        };
        self.wake.notify_one();
        count
    }

    /// The send ends here: it was refused before it was sent.
    pub fn forget(&self, id: Uuid) {
        self.open.lock().forgotten.push(id);
        self.wake.notify_one();
    }

    /// Writes bulks until `stop`, then what is still open. A change waits for no timer while
    /// the replica is quiet (a lone sync send waits one round trip); once a bulk was busy, the
    /// next starts a linger after it, so that a busy replica writes at most one bulk per linger
    /// (on Tansu's in-memory engine every fetch lists each batch of the partition: fewer, larger
    /// bulks keep the followers' reads cheap).
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut not_before: Option<Instant> = None;
        loop {
            let slot = tokio::select! {
                _ = stop.cancelled() => break,
                slot = self.slots.clone().acquire_owned() => slot,
            };
            let Ok(slot) = slot else { break };
            loop {
                if !self.open.lock().is_empty() {
                    break;
                }
                tokio::select! {
                    _ = stop.cancelled() => return self.write_open(),
                    _ = self.wake.notified() => {}
                }
            }
            if let Some(at) = not_before.filter(|at| *at > Instant::now()) {
                tokio::select! {
                    _ = stop.cancelled() => return self.write_open(),
                    _ = tokio::time::sleep_until(at) => {}
                }
            }
            let started = Instant::now();
            let bulk = self.open.lock().take();
            let busy = bulk.changes() >= BUSY;
            not_before = busy.then(|| started + self.linger);
            self.write(bulk, Some(slot));
        }
        self.write_open();
    }

    /// Writes whatever is open, in as many bulks as it takes, holding no slot (at shutdown,
    /// before the writer is flushed).
    pub fn write_open(&self) {
        loop {
            let bulk = self.open.lock().take();
            if bulk.is_empty() {
                return;
            }
            self.write(bulk, None);
        }
    }

    fn write(&self, bulk: OpenBulk, slot: Option<tokio::sync::OwnedSemaphorePermit>) {
        let changes = bulk.changes() as u64;
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let record = StateRecord::Statuses(StatusBulk {
            replica: self.replica.clone(),
            sequence,
            statuses: bulk.statuses,
            forgotten: bulk.forgotten,
        });
        // In turn, among the partitions the topic has (known once the table found it).
        let partitions = self.writer.partitions().max(1);
        let start = partition_for(self.prefix.as_bytes(), partitions);
        let partition = ((start as u64 + sequence) % partitions as u64) as i32;
        self.writer.write_for(&record, Some(partition), Acks::new(bulk.waiters, slot));
        self.changes_written.fetch_add(changes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::status_store::pending_for_test;

    fn change(i: usize) -> StatusRecord {
        StatusRecord::of(&pending_for_test(&i.to_string()))
    }

    #[test]
    fn a_backlog_goes_in_bulks_oldest_first_and_its_waiters_with_the_last() {
        let mut open = OpenBulk { statuses: (0..MAX_BULK + 5).map(change).collect(), ..Default::default() };
        let (tx, _rx) = oneshot::channel();
        open.waiters.push(tx);
        open.forgotten.push(Uuid::new_v4());

        let first = open.take();
        assert_eq!(first.statuses.len(), MAX_BULK);
        assert_eq!(first.statuses[0].event_id, "0");
        assert!(first.waiters.is_empty() && first.forgotten.is_empty());

        let last = open.take();
        assert_eq!(last.statuses.len(), 5);
        assert_eq!(last.statuses[0].event_id, MAX_BULK.to_string());
        assert_eq!((last.waiters.len(), last.forgotten.len()), (1, 1));
        assert!(open.is_empty());
    }
}
