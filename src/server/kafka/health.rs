//! Whether an idempotent producer still makes progress, from what librdkafka tells it.
//!
//! A broker that lost its state (restarted empty, a wiped volume) no longer knows the producer's
//! id: Apache Kafka lets librdkafka bump the epoch and go on (KIP-360), but a broker that answers
//! `UNKNOWN_PRODUCER_ID` again after the bump leaves librdkafka retrying the same batch until
//! every record times out. [`StallWatch`] notices it from the statistics (records held, no
//! delivery report, the broker up, the epoch bumped again and again or the id never assigned);
//! [`ProducerHealth`] keeps what the producer's reports and logs said, so that the renewal and the
//! records it fails name the cause (`UnknownProducerId on orders [2]`), not only a timeout.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long an idempotent producer may hold records without any delivery report, while the
/// broker is up, before it is declared stuck (librdkafka's own recovery takes well under this).
pub const STALL_BOUND: Duration = Duration::from_secs(5);
/// Epoch bumps within one stall that show librdkafka's recovery is not taking.
const BUMPS_THAT_FAIL: i64 = 2;
/// How long a broker's refusal is remembered as the likely cause of a failure.
const REFUSAL_MEMORY: Duration = Duration::from_secs(120);

/// One statistics report, as far as the watch is concerned.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    /// Delivery reports so far (any outcome).
    pub delivered: u64,
    /// Records the producer holds (`msg_cnt`).
    pub holding: i64,
    /// At least one broker connection is up.
    pub broker_up: bool,
    pub idemp_state: String,
    pub epoch_cnt: i64,
}

#[derive(Debug, Default)]
pub struct StallWatch {
    last_delivered: u64,
    /// When the current stall began, and the epoch count then.
    since: Option<(Instant, i64)>,
    reported: bool,
}

impl StallWatch {
    /// The stall's description the first time it passes [`STALL_BOUND`]; `None` otherwise.
    pub fn observe(&mut self, s: &Sample) -> Option<String> {
        let progressed = s.delivered != self.last_delivered;
        self.last_delivered = s.delivered;
        // Progress, nothing to send, or a broker away (librdkafka's timeouts apply): no stall.
        if progressed || s.holding <= 0 || !s.broker_up {
            self.since = None;
            return None;
        }
        let (began, epochs) = *self.since.get_or_insert((s.at, s.epoch_cnt));
        let stalled = s.at.saturating_duration_since(began);
        let bumps = s.epoch_cnt - epochs;
        let stuck = bumps >= BUMPS_THAT_FAIL || s.idemp_state != "Assigned";
        if stalled < STALL_BOUND || !stuck || self.reported {
            return None;
        }
        self.reported = true;
        Some(format!(
            "no delivery report for {}s while the broker answers, {} records held, producer id renewed {bumps} \
             times (state {})",
            stalled.as_secs(),
            s.holding,
            s.idemp_state
        ))
    }
}

/// What one producer's callbacks learnt, shared with the producer that owns them.
#[derive(Debug, Default)]
pub struct ProducerHealth {
    delivered: AtomicU64,
    watch: Mutex<StallWatch>,
    /// The broker's last refusal of an idempotent batch librdkafka logged, and when.
    refusal: Mutex<Option<(Instant, String)>>,
    /// Why the producer was renewed: what the records it still held fail with.
    retired_because: Mutex<Option<String>>,
}

impl ProducerHealth {
    pub fn delivered(&self) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    /// Feeds one statistics report; the stall's description when the producer is stuck.
    pub fn observe(&self, mut sample: Sample) -> Option<String> {
        sample.delivered = self.delivered.load(Ordering::Relaxed);
        let stalled = self.watch.lock().observe(&sample)?;
        Some(match self.refusal() {
            Some(refusal) => format!("{refusal}: {stalled}"),
            None => stalled,
        })
    }

    /// Reads one librdkafka log line for a broker refusing the producer's id or sequence.
    pub fn log(&self, facility: &str, message: &str) {
        if let Some(refusal) = refusal_in(facility, message) {
            *self.refusal.lock() = Some((Instant::now(), refusal));
        }
    }

    /// The broker's recent refusal, e.g. `UnknownProducerId on orders [2]`.
    pub fn refusal(&self) -> Option<String> {
        let refusal = self.refusal.lock();
        refusal.as_ref().filter(|(at, _)| at.elapsed() < REFUSAL_MEMORY).map(|(_, r)| r.clone())
    }

    pub fn retire_because(&self, cause: String) {
        *self.retired_because.lock() = Some(cause);
    }

    pub fn retired_because(&self) -> Option<String> {
        self.retired_because.lock().clone()
    }
}

/// `UnknownProducerId on orders [2]` from librdkafka's EOS debug lines (`UNKPID`, `ERRSEQ`):
/// "ProduceRequest for orders [2] with 1 message(s) failed due to unknown producer id ...".
pub fn refusal_in(facility: &str, message: &str) -> Option<String> {
    let error = match facility {
        "UNKPID" => "UnknownProducerId",
        "ERRSEQ" | "OUTOFORDER" => "OutOfOrderSequenceNumber",
        _ => return None,
    };
    let partition = message
        .split_once("ProduceRequest for ")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(topic_partition, _)| format!("{topic_partition}]"));
    Some(match partition {
        Some(p) => format!("{error} on {p}"),
        None => error.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: Instant, delivered: u64, epoch_cnt: i64) -> Sample {
        Sample { at, delivered, holding: 3, broker_up: true, idemp_state: "Assigned".into(), epoch_cnt }
    }

    #[test]
    fn a_producer_whose_epoch_keeps_bumping_without_progress_is_stuck_once_past_the_bound() {
        let t0 = Instant::now();
        let mut watch = StallWatch::default();
        assert_eq!(watch.observe(&sample(t0, 0, 1)), None);
        assert_eq!(watch.observe(&sample(t0 + Duration::from_secs(3), 0, 20)), None, "not yet past the bound");
        let stuck = watch.observe(&sample(t0 + STALL_BOUND, 0, 40)).expect("stuck");
        assert!(stuck.contains("renewed 39 times"), "{stuck}");
        assert_eq!(watch.observe(&sample(t0 + STALL_BOUND * 2, 0, 80)), None, "reported once");
    }

    #[test]
    fn progress_a_broker_away_or_a_single_bump_is_not_a_stall() {
        let t0 = Instant::now();
        let mut watch = StallWatch::default();
        for i in 0..10u64 {
            let at = t0 + Duration::from_secs(i);
            assert_eq!(watch.observe(&sample(at, i, 1)), None, "reports keep coming");
        }
        let mut watch = StallWatch::default();
        for i in 0..10u64 {
            let s = Sample { broker_up: false, ..sample(t0 + Duration::from_secs(i), 0, i as i64) };
            assert_eq!(watch.observe(&s), None, "a broker away is the delivery timeout's business");
        }
        let mut watch = StallWatch::default();
        for i in 0..10u64 {
            // KIP-360: one bump, then librdkafka goes on; a slow broker does not bump at all.
            assert_eq!(watch.observe(&sample(t0 + Duration::from_secs(i), 0, 2)), None);
        }
    }

    #[test]
    fn an_id_never_assigned_while_the_broker_answers_is_a_stall() {
        let t0 = Instant::now();
        let mut watch = StallWatch::default();
        let waiting = |at| Sample { idemp_state: "WaitPID".into(), ..sample(at, 0, 1) };
        assert_eq!(watch.observe(&waiting(t0)), None);
        assert!(watch.observe(&waiting(t0 + STALL_BOUND)).is_some_and(|s| s.contains("WaitPID")));
    }

    #[test]
    fn the_refusal_names_the_error_and_the_partition() {
        let line = "ProduceRequest for orders [2] with 1 message(s) failed due to unknown producer id \
                    (PID{Id:1,Epoch:0}, base seq 5, 0 retries): no risk of duplication/reordering";
        assert_eq!(refusal_in("UNKPID", line).as_deref(), Some("UnknownProducerId on orders [2]"));
        assert_eq!(refusal_in("ERRSEQ", "gibberish").as_deref(), Some("OutOfOrderSequenceNumber"));
        assert_eq!(refusal_in("PRODUCE", line), None);
    }
}
