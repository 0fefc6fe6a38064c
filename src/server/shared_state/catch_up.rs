//! Read your writes across replicas. A replica that does not know a request id first catches
//! its view up to the state topic's end, then answers. The end is not read from the high
//! watermark (Tansu's is wrong for multi-record batches): the replica writes a marker into every
//! partition and reads until it meets them, as Confluent Schema Registry's KafkaStore does.
//!
//! A miss does not cost a write of its own: misses are served in rounds. Every miss registered
//! before a round starts is served by it, one round runs at a time, and at most
//! [`MAX_WAITING`] misses wait (beyond, a miss is answered from the view as it is).

use super::follower::Progress;
use super::record::{Marker, StateRecord};
use super::view::{now_ms, StateView};
use super::writer::StateWriter;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// Misses that may wait for a round at once.
pub const MAX_WAITING: usize = 4096;

pub struct CatchUp {
    /// Misses registered so far (each gets the next number).
    requested: AtomicU64,
    /// The highest miss number a finished round served.
    served: watch::Sender<u64>,
    wake: Notify,
    waiting: Semaphore,
    pub rounds: AtomicU64,
}

impl Default for CatchUp {
    fn default() -> Self {
        let (served, _) = watch::channel(0);
        Self {
            requested: AtomicU64::new(0),
            served,
            wake: Notify::new(),
            waiting: Semaphore::new(MAX_WAITING),
            rounds: AtomicU64::new(0),
        }
    }
}

impl CatchUp {
    /// Waits (up to `bound`) until the view holds everything written before this call. False
    /// when the bound passed first, or too many misses are waiting already.
    pub async fn until_now(&self, bound: Duration) -> bool {
        let Ok(_permit) = self.waiting.try_acquire() else { return false };
        let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.wake.notify_one();
        let mut served = self.served.subscribe();
        tokio::time::timeout(bound, served.wait_for(|s| *s >= mine)).await.is_ok_and(|r| r.is_ok())
    }

    /// Runs rounds until `stop`: markers into every partition, then wait until the follower
    /// read past each of them. A round that got there vouches for the view up to when it began
    /// (who is gone is judged from there: [`ReplicaTable::vouch`](super::replicas::ReplicaTable::vouch)).
    pub async fn run(
        self: Arc<Self>,
        writer: Arc<StateWriter>,
        progress: Arc<Progress>,
        view: Arc<StateView>,
        stop: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => {}
            }
            let target = self.requested.load(Ordering::SeqCst);
            if target <= *self.served.borrow() {
                continue;
            }
            let round = self.rounds.fetch_add(1, Ordering::Relaxed) + 1;
            let began_ms = now_ms();
            match Self::round(&writer, &progress, &view.me, round).await {
                Ok(()) => view.replicas.vouch(began_ms),
                Err(error) => {
                    tracing::warn!(%error, "state topic: a catch-up round failed; misses answer from the view")
                }
            }
            self.served.send_modify(|s| *s = (*s).max(target));
        }
    }

    async fn round(writer: &StateWriter, progress: &Progress, me: &str, round: u64) -> Result<(), String> {
        let marker = StateRecord::Marker(Marker { replica: me.to_owned(), round });
        let acks: Vec<_> = (0..writer.partitions()).filter_map(|p| writer.write(&marker, Some(p), true)).collect();
        let mut targets = Vec::with_capacity(acks.len());
        for ack in acks {
            match tokio::time::timeout(Duration::from_secs(10), ack).await {
                Ok(Ok(Ok(at))) => targets.push(at),
                Ok(Ok(Err(error))) => return Err(error),
                Ok(Err(_)) | Err(_) => return Err("no acknowledgement for a marker".into()),
            }
        }
        if progress.wait_until(&targets, Duration::from_secs(10)).await {
            Ok(())
        } else {
            Err("the view did not reach the markers within 10 s".into())
        }
    }
}
