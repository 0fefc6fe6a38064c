//! This replica's view of the state topic: every status (its own and the other replicas'), in
//! the bounded status store, the idempotency keys, every replica's async batches and the other
//! replicas' lab runs, and the replicas' heartbeats. Statuses whose replica stopped before their
//! delivery report read `UNKNOWN`.
//!
//! A replica's bulks of statuses are spread over the partitions, so they may be read out of
//! order: a late PENDING never undoes a final state (the store's merge), and a send withdrawn
//! before its PENDING was read stays withdrawn ([`Withdrawn`]).

use super::record::{status_bulk_prefix, StateRecord, StatusRecord};
use super::replicas::ReplicaTable;
use crate::model::{DeliveryState, SendStatus};
use crate::server::idempotency::{Claimed, KeyTable};
use crate::server::lab::board::{PostedRun, PostedRuns};
use crate::server::status_store::StatusStore;
use crate::server::status_table::KeptBatches;
use std::sync::Arc;
use uuid::Uuid;

pub struct StateView {
    pub store: Arc<StatusStore>,
    /// The idempotency keys, as the log settled them.
    pub keys: Arc<KeyTable>,
    pub replicas: ReplicaTable,
    /// The async batches of every replica.
    pub batches: KeptBatches,
    /// The other replicas' lab runs.
    pub runs: PostedRuns,
    /// This replica's id: its own PENDING sends are never judged by a lease.
    pub me: Arc<str>,
    /// The key prefix of this replica's own bulks of statuses (the follower skips them).
    pub own_bulks: String,
    /// Replicas whose PENDING statuses were already turned UNKNOWN.
    swept: parking_lot::Mutex<std::collections::HashSet<String>>,
    withdrawn: parking_lot::Mutex<Withdrawn>,
}

/// Sends another replica withdrew (refused, or abandoned before they were sent), the latest
/// [`Withdrawn::KEPT`]: their PENDING, in a bulk read later from another partition, is not applied.
#[derive(Default)]
struct Withdrawn {
    order: std::collections::VecDeque<Uuid>,
    ids: std::collections::HashSet<Uuid>,
}

impl Withdrawn {
    /// Far more than the sends withdrawn while two bulks of one replica are read.
    const KEPT: usize = 4096;

    /// Applies a status read from the log, unless it is the PENDING of a send withdrawn already.
    fn upsert_unless_withdrawn(&self, store: &StatusStore, status: SendStatus) {
        if status.state != DeliveryState::Pending || !self.ids.contains(&status.request_id) {
            store.upsert(status);
        }
    }

    fn add(&mut self, id: Uuid) {
        if self.ids.insert(id) {
            self.order.push_back(id);
        }
        while self.order.len() > Self::KEPT {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

/// What a status of a replica that stopped before its delivery report says.
pub fn unknown_reason(replica: &str) -> String {
    format!(
        "UnknownOutcome: replica {replica} accepted this send and stopped before Kafka's delivery report; the record \
         may or may not be in the topic (look for its eventId)"
    )
}

impl StateView {
    pub fn new(store: Arc<StatusStore>, keys: Arc<KeyTable>, me: &str) -> Self {
        Self {
            store,
            keys,
            replicas: ReplicaTable::default(),
            batches: KeptBatches::default(),
            runs: PostedRuns::default(),
            me: Arc::from(me),
            own_bulks: status_bulk_prefix(me),
            swept: Default::default(),
            withdrawn: Default::default(),
        }
    }

    /// Applies one record of the topic; `ts_ms` is its timestamp, `offset` where it sits in its
    /// partition (every record of an idempotency key lives in one partition).
    pub fn apply(&self, record: StateRecord, ts_ms: i64, offset: i64) {
        match record {
            // This replica's own changes are in the view already, applied as they happened (and
            // one it abandoned must not come back). A restarted replica has a new id: what its
            // earlier run wrote is rebuilt from here like any other replica's.
            StateRecord::Statuses(bulk) => {
                if *bulk.replica != *self.me {
                    let mut withdrawn = self.withdrawn.lock();
                    for status in bulk.statuses {
                        withdrawn.upsert_unless_withdrawn(&self.store, status.into_status(&bulk.replica));
                    }
                    for id in bulk.forgotten {
                        self.store.remove(&id);
                        withdrawn.add(id);
                    }
                }
            }
            StateRecord::Heartbeat(beat) => self.replicas.beat(&beat, ts_ms),
            StateRecord::Marker(_) => {}
            StateRecord::Batch(batch) => {
                if *batch.replica != *self.me {
                    self.batches.add(batch.part);
                }
            }
            StateRecord::LabRun(run) => {
                if *run.replica != *self.me {
                    self.runs.upsert(&run.replica, PostedRun { created_ms: run.created_ms, report: run.report });
                }
            }
            // Claims are applied from the log, this replica's own too: the log's order decides.
            mut key_record => {
                let carried = take_carried(&mut key_record);
                apply_to_keys(&self.keys, key_record, offset);
                if let Some(carried) = carried {
                    self.apply_carried(carried);
                }
            }
        }
    }

    /// A status carried by a key's claim or answer, once the record is applied to the keys: it
    /// counts where that claim holds the key (a lost claim's PENDING is never shown). This
    /// replica's own are in the view already.
    fn apply_carried(&self, carried: Carried) {
        let Carried { key, replica, request_id, status } = carried;
        if *replica == *self.me || self.keys.verdict(&key, request_id) != Some(Claimed::Won) {
            return;
        }
        self.withdrawn.lock().upsert_unless_withdrawn(&self.store, status.into_status(&replica));
    }

    /// A status as it reads now: PENDING of a replica that is gone reads UNKNOWN.
    pub fn read(&self, id: &Uuid) -> Option<SendStatus> {
        let status = self.store.get(id)?;
        Some(self.judge(status))
    }

    fn judge(&self, mut status: SendStatus) -> SendStatus {
        if status.state == DeliveryState::Pending {
            if let Some(owner) = status.replica.as_deref() {
                if *owner != *self.me && self.replicas.is_gone(owner) {
                    status.state = DeliveryState::Unknown;
                    status.error = Some(unknown_reason(owner));
                }
            }
        }
        status
    }

    /// The latest sends, newest first, as they read now.
    pub fn recent(&self, limit: usize) -> Vec<SendStatus> {
        self.store.recent(limit).into_iter().map(|s| self.judge(s)).collect()
    }

    /// Turns the PENDING statuses of replicas that went since the last sweep into UNKNOWN;
    /// returns how many. (A status that arrives later from a gone replica reads UNKNOWN anyway.)
    pub fn sweep(&self) -> u64 {
        let mut gone = self.replicas.gone(&self.me);
        {
            let mut swept = self.swept.lock();
            gone.retain(|r| !swept.contains(r));
            swept.extend(gone.iter().cloned());
        }
        if gone.is_empty() {
            return 0;
        }
        self.store.mark_unknown(|owner| gone.contains(owner), unknown_reason)
    }
}

/// A status a key's claim or answer carried, with the key and the claim (its replica and
/// request id) it is for.
struct Carried {
    key: String,
    replica: String,
    request_id: Uuid,
    status: StatusRecord,
}

/// Takes the status out of a key's claim or answer (the key table keeps neither).
fn take_carried(record: &mut StateRecord) -> Option<Carried> {
    let (key, claim, status) = match record {
        StateRecord::Claim(c) => (&c.key, &c.claim, c.status.take()?),
        StateRecord::Answer(a) => (&a.key, &a.claim, a.status.take()?),
        _ => return None,
    };
    Some(Carried { key: key.clone(), replica: claim.replica.clone(), request_id: claim.request_id, status })
}

/// Applies a record about an idempotency key (a claim, an answer, a release) found at `offset`;
/// any other record is left alone.
pub fn apply_to_keys(keys: &KeyTable, record: StateRecord, offset: i64) {
    match record {
        StateRecord::Claim(c) => keys.apply_claim(&c.key, c.claim, offset),
        StateRecord::Answer(a) => keys.apply_answer(&a.key, &a.claim, a.answer, offset),
        StateRecord::Release(r) => keys.apply_release(&r.key, r.request_id),
        StateRecord::Statuses(_)
        | StateRecord::Heartbeat(_)
        | StateRecord::Marker(_)
        | StateRecord::Batch(_)
        | StateRecord::LabRun(_) => {}
    }
}

/// Wall-clock milliseconds since the epoch (record timestamps are in the same unit): the
/// idempotency keys' clock, one for the whole service.
pub use crate::server::idempotency::now_ms;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::shared_state::record::{StatusBulk, StatusRecord};
    use crate::server::status_store::pending_for_test;
    use std::time::Duration;

    fn view(me: &str) -> StateView {
        let store = Arc::new(StatusStore::new(100, Duration::from_secs(60)));
        StateView::new(store, Arc::new(KeyTable::new(Duration::from_secs(60), 100)), me)
    }

    fn change(id: Uuid, state: DeliveryState) -> StatusRecord {
        let ok = state == DeliveryState::Ok;
        let status = SendStatus {
            request_id: id,
            state,
            partition: ok.then_some(0),
            offset: ok.then_some(9),
            ..pending_for_test("e")
        };
        StatusRecord::of(&status)
    }

    #[test]
    fn another_replicas_bulk_applies_in_order_and_forgets_last() {
        let view = view("me");
        let (sent, refused) = (Uuid::new_v4(), Uuid::new_v4());
        let bulk = StatusBulk {
            replica: "other".into(),
            sequence: 1,
            statuses: vec![
                change(sent, DeliveryState::Pending),
                change(refused, DeliveryState::Pending),
                change(sent, DeliveryState::Ok),
            ],
            forgotten: vec![refused],
        };
        view.apply(StateRecord::Statuses(bulk), now_ms(), 0);
        let read = view.read(&sent).expect("applied");
        assert_eq!((read.state, read.offset, read.replica.as_deref()), (DeliveryState::Ok, Some(9), Some("other")));
        assert!(view.read(&refused).is_none());
    }

    #[test]
    fn a_pending_send_reads_unknown_only_once_the_view_is_known_whole_past_the_lease() {
        use crate::server::shared_state::record::Heartbeat;
        let view = view("me");
        let id = Uuid::new_v4();
        let beat_ms = now_ms() - 60_000;
        let beat = Heartbeat { replica: "other".into(), lease_ms: 10_000, stopped: false };
        view.apply(StateRecord::Heartbeat(beat), beat_ms, 0);
        let bulk = StatusBulk {
            replica: "other".into(),
            sequence: 1,
            statuses: vec![change(id, DeliveryState::Pending)],
            forgotten: vec![],
        };
        view.apply(StateRecord::Statuses(bulk), beat_ms, 1);
        // The heartbeat is a minute old by the clock, but the view may simply be behind.
        assert_eq!(view.read(&id).map(|s| s.state), Some(DeliveryState::Pending));
        assert_eq!(view.sweep(), 0);
        view.replicas.vouch(beat_ms + 5_000);
        assert_eq!(view.read(&id).map(|s| s.state), Some(DeliveryState::Pending), "within the lease");
        view.replicas.vouch(beat_ms + 10_001);
        assert_eq!(view.read(&id).map(|s| s.state), Some(DeliveryState::Unknown), "the view holds 10 s with no beat");
        assert_eq!(view.sweep(), 1);
    }

    #[test]
    fn bulks_read_out_of_order_end_in_the_latest_state() {
        let view = view("me");
        let (sent, refused) = (Uuid::new_v4(), Uuid::new_v4());
        let bulk =
            |sequence, statuses, forgotten| StatusBulk { replica: "other".into(), sequence, statuses, forgotten };
        // The second bulk (from another partition) is read first.
        let second = bulk(2, vec![change(sent, DeliveryState::Ok)], vec![refused]);
        let first =
            bulk(1, vec![change(sent, DeliveryState::Pending), change(refused, DeliveryState::Pending)], vec![]);
        view.apply(StateRecord::Statuses(second), now_ms(), 0);
        view.apply(StateRecord::Statuses(first), now_ms(), 0);
        assert_eq!(view.read(&sent).map(|s| s.state), Some(DeliveryState::Ok), "a late PENDING undoes nothing");
        assert!(view.read(&refused).is_none(), "a withdrawn send does not come back");
    }

    #[test]
    fn a_status_carried_by_a_key_counts_where_its_claim_wins() {
        use crate::server::idempotency::{claim_for_test, KeyClaim, RecordedAnswer};
        use crate::server::shared_state::record::{KeyAnswerRecord, KeyClaimRecord};
        let view = view("me");
        let claim = |replica: &str| claim_for_test(replica, None);
        let (first, second, withdrawn) = (claim("other"), claim("third"), claim("other"));
        let claimed = |c: &KeyClaim, key: &str| {
            let status = Some(change(c.request_id, DeliveryState::Pending));
            StateRecord::Claim(KeyClaimRecord { key: key.into(), claim: c.clone(), status })
        };
        view.apply(claimed(&first, "k"), now_ms(), 1);
        view.apply(claimed(&second, "k"), now_ms(), 2);
        // (Read from the store: "other" sent no heartbeat here, so its PENDING would read UNKNOWN.)
        let read = view.store.get(&first.request_id).expect("the winner's PENDING");
        assert_eq!((read.state, read.replica.as_deref()), (DeliveryState::Pending, Some("other")));
        assert!(view.read(&second.request_id).is_none(), "a lost claim's PENDING is never shown");

        let answer = RecordedAnswer::Failed(crate::error::AppError::broker("x"));
        let status = Some(change(first.request_id, DeliveryState::Ok));
        let answered = KeyAnswerRecord { key: "k".into(), claim: first.clone(), answer, status };
        view.apply(StateRecord::Answer(answered), now_ms(), 3);
        assert_eq!(view.read(&first.request_id).and_then(|s| s.offset), Some(9), "the answer's final status");

        // Withdrawn (in a bulk read first, from another partition) before its claim was read.
        let bulk = StatusBulk {
            replica: "other".into(),
            sequence: 1,
            statuses: vec![],
            forgotten: vec![withdrawn.request_id],
        };
        view.apply(StateRecord::Statuses(bulk), now_ms(), 0);
        view.apply(claimed(&withdrawn, "k2"), now_ms(), 4);
        assert!(view.read(&withdrawn.request_id).is_none(), "a withdrawn send does not come back");
        let mine = claim("me");
        view.apply(claimed(&mine, "k3"), now_ms(), 5);
        assert!(view.read(&mine.request_id).is_none(), "its own are in the view already (or abandoned)");
    }

    #[test]
    fn its_own_bulks_are_not_applied_again() {
        let view = view("me");
        let id = Uuid::new_v4();
        let bulk = StatusBulk {
            replica: "me".into(),
            sequence: 1,
            statuses: vec![change(id, DeliveryState::Pending)],
            forgotten: vec![],
        };
        assert_eq!(view.own_bulks, "statuses/me/");
        view.apply(StateRecord::Statuses(bulk), now_ms(), 0);
        assert!(view.read(&id).is_none(), "an abandoned send of its own must not come back");
    }
}
