//! Read your writes across replicas. A replica that does not know a request id first catches
//! its view up to the state topic's end, then answers. The end is not read from the high
//! watermark (Tansu's is wrong for multi-record batches): the replica writes a marker into every
//! partition and reads until it meets them, as Confluent Schema Registry's KafkaStore does.
//!
//! A miss does not cost a write of its own: misses are served in rounds. Every miss registered
//! before a round starts is served by it, one round runs at a time, and at most
//! [`MAX_WAITING`] misses wait. A miss learns whether a round that got to the end served it:
//! if none did (the bound passed, too many misses waited, or the round failed), the view may
//! lack what another replica wrote, and the lookup says so rather than "unknown".

use super::follower::Progress;
use super::record::{Marker, StateRecord};
use super::view::{now_ms, StateView};
use super::writer::StateWriter;
use crate::error::AppError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// Misses that may wait for a round at once.
pub const MAX_WAITING: usize = 4096;

/// Where the rounds stand, in miss numbers.
#[derive(Debug, Default, Clone)]
struct Rounds {
    /// The highest miss number a finished round served, whether it got to the end or not.
    served: u64,
    /// The highest miss number a round that got to the end served: the view holds what was
    /// written before every miss up to this one.
    vouched: u64,
    /// Why the last round that did not get to the end failed.
    failure: String,
}

pub struct CatchUp {
    /// Misses registered so far (each gets the next number).
    requested: AtomicU64,
    served: watch::Sender<Rounds>,
    wake: Notify,
    waiting: Semaphore,
    pub rounds: AtomicU64,
}

impl Default for CatchUp {
    fn default() -> Self {
        let (served, _) = watch::channel(Rounds::default());
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
    /// Waits (up to `bound`) until the view holds everything written before this call. The
    /// error says why it may not: the bound passed first, too many misses were waiting already,
    /// or the round that served this one failed.
    pub async fn until_now(&self, bound: Duration) -> Result<(), String> {
        let Ok(_permit) = self.waiting.try_acquire() else {
            return Err(format!("{MAX_WAITING} lookups already wait for it"));
        };
        let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.wake.notify_one();
        let mut served = self.served.subscribe();
        let rounds = match tokio::time::timeout(bound, served.wait_for(|r| r.served >= mine)).await {
            Ok(Ok(rounds)) => rounds.clone(),
            Ok(Err(_)) => return Err("the state topic is no longer followed".into()),
            Err(_) => return Err(format!("it did not get there within {} ms", bound.as_millis())),
        };
        if rounds.vouched >= mine {
            Ok(())
        } else {
            Err(rounds.failure)
        }
    }

    /// Looks something up in the view with `find`; on a miss, catches up first (up to `bound`)
    /// and looks again. `Ok(None)` only once the view holds everything written before the call:
    /// when it could not catch up, the thing may exist, written by another replica, and the
    /// answer is [`AppError::Behind`] naming it (`what`, e.g. "requestId <id>").
    pub async fn look_up<T>(
        &self,
        bound: Duration,
        find: impl Fn() -> Option<T>,
        what: impl FnOnce() -> String,
    ) -> Result<Option<T>, AppError> {
        if let Some(found) = find() {
            return Ok(Some(found));
        }
        let caught_up = self.until_now(bound).await;
        match (find(), caught_up) {
            (Some(found), _) => Ok(Some(found)),
            (None, Ok(())) => Ok(None),
            (None, Err(why)) => Err(AppError::Behind {
                message: format!(
                    "{} is not known to this replica yet, and it could not catch up with the state topic ({why}): it \
                     may exist. Retry shortly",
                    what()
                ),
                retry_after_secs: 1,
            }),
        }
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
            if target <= self.served.borrow().served {
                continue;
            }
            let round = self.rounds.fetch_add(1, Ordering::Relaxed) + 1;
            let began_ms = now_ms();
            let outcome = Self::round(&writer, &progress, &view.me, round).await;
            match &outcome {
                Ok(()) => view.replicas.vouch(began_ms),
                Err(error) => tracing::warn!(%error, "state topic: a catch-up round failed; misses are answered 503"),
            }
            self.finish(target, outcome);
        }
    }

    /// A round that served every miss up to `target` ended: at the markers, or not.
    fn finish(&self, target: u64, outcome: Result<(), String>) {
        self.served.send_modify(|r| {
            r.served = r.served.max(target);
            match outcome {
                Ok(()) => r.vouched = r.vouched.max(target),
                Err(error) => r.failure = error,
            }
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Finishes the next round (the misses registered so far) once `misses` are registered.
    async fn round_after(catch_up: &CatchUp, misses: u64, outcome: Result<(), String>) {
        while catch_up.requested.load(Ordering::SeqCst) < misses {
            catch_up.wake.notified().await;
        }
        catch_up.finish(catch_up.requested.load(Ordering::SeqCst), outcome);
    }

    #[tokio::test]
    async fn a_miss_no_round_served_in_time_is_not_vouched_for() {
        let catch_up = CatchUp::default();
        let got = catch_up.until_now(Duration::from_millis(20)).await;
        assert!(got.as_ref().is_err_and(|why| why.contains("within 20 ms")), "{got:?}");
    }

    #[tokio::test]
    async fn a_miss_served_by_a_failed_round_is_told_why() {
        let catch_up = CatchUp::default();
        let (got, ()) = tokio::join!(
            catch_up.until_now(Duration::from_secs(5)),
            round_after(&catch_up, 1, Err("no acknowledgement for a marker".into()))
        );
        assert_eq!(got, Err("no acknowledgement for a marker".into()));
        let (got, ()) = tokio::join!(catch_up.until_now(Duration::from_secs(5)), round_after(&catch_up, 2, Ok(())));
        assert_eq!(got, Ok(()), "a later round that got to the end serves the next miss");
    }

    #[tokio::test]
    async fn a_round_that_got_to_the_end_vouches_for_its_misses_whatever_follows() {
        let catch_up = CatchUp::default();
        let (got, ()) = tokio::join!(catch_up.until_now(Duration::from_secs(5)), async {
            round_after(&catch_up, 1, Ok(())).await;
            catch_up.finish(1, Err("a later round failed".into()));
        });
        assert_eq!(got, Ok(()));
    }

    #[tokio::test]
    async fn misses_beyond_the_bound_on_waiters_are_refused_at_once() {
        let catch_up = CatchUp::default();
        let _all = catch_up.waiting.try_acquire_many(MAX_WAITING as u32).expect("permits");
        let got = catch_up.until_now(Duration::from_secs(60)).await;
        assert!(got.as_ref().is_err_and(|why| why.contains("already wait")), "{got:?}");
    }
}
