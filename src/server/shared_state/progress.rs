//! How far the follower has read, shared with whoever waits on it: per partition, the last
//! offset applied; whether anyone waits (then the follower does not rest); and how many of this
//! replica's own records wait to be read back (past [`REST_BACKLOG`], no rest either).

use super::view::now_ms;
use super::writer::WriterCounters;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// More of this replica's own records than this waiting to be read: no rest. (256 kept a
/// follower under keyed load fetching without pause, its claims and answers being a record each:
/// on Tansu every fetch lists each partition read, and 4,096 gave 4.6-4.7k keyed req/s against
/// 3.4k, with the view still catching up within seconds; docs/idempotency.md.)
pub const REST_BACKLOG: i64 = 4096;
/// How often a resting follower looks at that backlog.
const BACKLOG_CHECK: Duration = Duration::from_millis(20);

/// How far the follower has read, shared with whoever waits on it.
pub struct Progress {
    /// Per partition, the offset of the last record applied (-1: none yet).
    pub(super) positions: Vec<AtomicI64>,
    /// What this replica's writer had acknowledged (its own records, to be read back).
    pub(super) written: Arc<WriterCounters>,
    /// Bumped after each batch applied.
    pub(super) tick: watch::Sender<u64>,
    pub applied: AtomicU64,
    /// Milliseconds between a record's timestamp and its application, for the last record.
    pub last_delay_ms: AtomicI64,
    /// The same delay, in seconds, for every record written since this replica started
    /// (`state_view_lag_seconds`; the rebuild of older ones is not lag).
    pub lag: Histogram,
    pub(super) started_ms: i64,
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
    pub(super) fn rest(&self, bound: Duration) {
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
    pub(super) fn may_rest(&self) -> bool {
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
