//! Where statuses are recorded and read: one interface, [`StatusTable`], for the send core. The
//! service runs on one implementation, the table kept in a Kafka topic and shared by every
//! replica (`shared_state::SharedStatusTable`); [`LocalStatusTable`] serves a lab run's own
//! sends and the tests that make no claim about Kafka. Async batches are kept beside the
//! statuses ([`batches`]), shared the same way.

pub mod batches;
mod local;

pub use batches::{BatchEntry, KeptBatches, KEPT_BATCHES};
pub use local::{insert_waiting, store_full, LocalStatusTable};

use crate::error::AppError;
use crate::model::SendStatus;
use crate::server::status_store::{Delivered, StatusStore};
use futures::future::BoxFuture;
use std::time::Duration;
use tokio::sync::oneshot;
use uuid::Uuid;

/// Resolves once a status change can be read by every replica (at once for a local table): the
/// state topic's acknowledgement, with the record's partition and offset, or why not.
pub struct StateAck(Option<oneshot::Receiver<Result<(i32, i64), String>>>);

impl StateAck {
    /// Already as durable as it gets.
    pub fn done() -> Self {
        StateAck(None)
    }

    pub fn pending(rx: oneshot::Receiver<Result<(i32, i64), String>>) -> Self {
        StateAck(Some(rx))
    }

    /// Whichever of two acknowledgements is still to come (at most one of them is).
    pub fn or(self, other: StateAck) -> StateAck {
        if self.0.is_some() {
            self
        } else {
            other
        }
    }

    /// Waits up to `bound`; the error says why the change is not known to be durable.
    pub async fn wait(self, bound: Duration) -> Result<(), String> {
        let Some(rx) = self.0 else { return Ok(()) };
        match tokio::time::timeout(bound, rx).await {
            Ok(Ok(result)) => result.map(|_| ()),
            Ok(Err(_)) => Err("the state writer stopped before it answered".into()),
            Err(_) => Err(format!("the state topic did not acknowledge within {bound:?}")),
        }
    }
}

/// How an accepted send's PENDING status reaches the other replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// Kept here only: its outcome is what is shared (a sync send), or a record of the caller's
    /// carries it (a keyed send's claim).
    Local,
    /// Written, and acknowledged before the send goes on: an async send's 202 promises a status
    /// any replica can report, and nothing is sent when it cannot be recorded.
    Durable,
    /// Written beside the send: the acknowledgement is returned, for the caller to wait for
    /// before it answers (an async batch's records, whose one 202 waits for all of them).
    Beside,
}

/// How a delivery report's status reaches the other replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Written to the state topic; nobody waits for it (an async send's outcome).
    Written,
    /// Written; the caller waits for the acknowledgement (a sync answer).
    Acknowledged,
    /// Not written by the table: the caller carries it in a record of its own (the answer to an
    /// idempotency key), or asks for [`StatusTable::share`] when it cannot.
    Carried,
}

pub trait StatusTable: Send + Sync + 'static {
    /// Records an accepted send as PENDING, shared as `recording` says: resolves once it is
    /// recorded, with the state topic's acknowledgement still to come for [`Recording::Beside`];
    /// refused (503) when the view is full of PENDING sends, or when a status that must be
    /// written cannot be.
    fn accept(&self, status: SendStatus, recording: Recording) -> BoxFuture<'_, Result<StateAck, AppError>>;

    /// Records a delivery report, shared with every replica as `sharing` says (the ack resolves
    /// once every replica can read it, for [`Sharing::Acknowledged`]).
    fn complete(&self, id: &Uuid, outcome: Delivered, latency: Duration, sharing: Sharing) -> StateAck;

    /// Shares a send's status as it stands, without waiting: the record that was to carry it
    /// ([`Sharing::Carried`]) was not written.
    fn share(&self, _id: &Uuid) {}

    /// Forgets a send that never reached a producer (its caller got an error, or left).
    fn abandon(&self, id: &Uuid);

    /// One status as this replica's view holds it now, without catching up.
    fn read(&self, id: &Uuid) -> Option<SendStatus>;

    /// One status; on a miss, first catches up with what other replicas wrote (bounded). `None`
    /// only when the table holds everything written before the call: when it could not catch up
    /// in time, the send may exist and the answer is [`AppError::Behind`] (503, retry).
    fn get<'a>(&'a self, id: &'a Uuid) -> BoxFuture<'a, Result<Option<SendStatus>, AppError>>;

    /// The latest sends, newest first.
    fn recent(&self, limit: usize) -> Vec<SendStatus>;

    /// Keeps an async batch (each record's request id, or why it has none) for
    /// `GET /api/v1/batches/{id}`; resolves once every replica can read it (bounded), or says
    /// why not (it is kept here all the same).
    fn keep_batch(&self, id: Uuid, entries: Vec<BatchEntry>) -> BoxFuture<'_, Result<(), String>>;

    /// A kept batch's entries, in order; on a miss, first catches up as [`StatusTable::get`]
    /// does, with the same three outcomes.
    fn batch<'a>(&'a self, id: &'a Uuid) -> BoxFuture<'a, Result<Option<Vec<BatchEntry>>, AppError>>;

    /// The sends this replica still waits a delivery report for (for the shutdown log).
    fn own_pending_ids(&self) -> Vec<Uuid>;

    /// The local view (counts for metrics, accounting of a lab run).
    fn view(&self) -> &StatusStore;

    /// Why the table cannot serve yet (its view is being rebuilt), if so.
    fn not_ready(&self) -> Option<String> {
        None
    }

    /// This replica's id, where statuses are shared between replicas.
    fn replica(&self) -> &str {
        ""
    }

    /// The replicas alive now.
    fn alive_replicas(&self) -> Vec<String> {
        Vec::new()
    }

    /// The topic the table keeps its statuses in, if it keeps them in Kafka, once it has made
    /// sure the topic exists (the broker monitor then expects it in every listing).
    fn topic(&self) -> Option<&str> {
        None
    }

    /// The broker came back after an outage (it may have lost the table's topic).
    fn broker_back(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// A PENDING status whose record is not yet in the producer's hands (or not yet recorded in
/// the state topic): abandoned when this guard drops unless [`Unsent::keep`] was called, so a
/// failed hand-over, or a caller who goes away while the send waits for room in a full queue or
/// for the state topic, leaves no status PENDING for a record that was never sent.
pub struct Unsent<'a> {
    table: &'a dyn StatusTable,
    request_id: Uuid,
    kept: bool,
}

impl<'a> Unsent<'a> {
    pub fn new(table: &'a dyn StatusTable, request_id: Uuid) -> Self {
        Self { table, request_id, kept: false }
    }

    /// The status stays: its record was handed over (or its PENDING recorded).
    pub fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for Unsent<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.table.abandon(&self.request_id);
        }
    }
}

/// A final status left to the caller to carry ([`Sharing::Carried`]): shared on its own when this
/// guard drops unless [`CarriedStatus::carried`] was called, so a record that was not written, or
/// a caller who goes away before writing it, leaves no status PENDING on the other replicas.
pub struct CarriedStatus<'a> {
    table: &'a dyn StatusTable,
    request_id: Uuid,
    carried: bool,
}

impl<'a> CarriedStatus<'a> {
    pub fn new(table: &'a dyn StatusTable, request_id: Uuid) -> Self {
        Self { table, request_id, carried: false }
    }

    /// The record carrying the status was acknowledged.
    pub fn carried(&mut self) {
        self.carried = true;
    }
}

impl Drop for CarriedStatus<'_> {
    fn drop(&mut self) {
        if !self.carried {
            self.table.share(&self.request_id);
        }
    }
}

/// For tests: a local table that says its statuses live in a topic (`state`), counts the
/// statuses it was asked to share and the times it was told the broker came back, and holds the
/// acknowledgement of every status written beside its send ([`Recording::Beside`]) until the
/// test gives it.
#[cfg(test)]
pub struct CountingTable {
    local: LocalStatusTable,
    pub shared: std::sync::atomic::AtomicUsize,
    pub backs: std::sync::atomic::AtomicUsize,
    pub held: parking_lot::Mutex<Vec<crate::server::shared_state::writer::AckSender>>,
}

#[cfg(test)]
impl CountingTable {
    pub fn new(store: std::sync::Arc<StatusStore>) -> Self {
        Self {
            local: LocalStatusTable::new(store),
            shared: Default::default(),
            backs: Default::default(),
            held: Default::default(),
        }
    }
}

#[cfg(test)]
impl StatusTable for CountingTable {
    fn accept(&self, status: SendStatus, recording: Recording) -> BoxFuture<'_, Result<StateAck, AppError>> {
        let accepted = self.local.accept(status, recording);
        Box::pin(async move {
            accepted.await?;
            if recording != Recording::Beside {
                return Ok(StateAck::done());
            }
            let (tx, rx) = oneshot::channel();
            self.held.lock().push(tx);
            Ok(StateAck::pending(rx))
        })
    }
    fn complete(&self, id: &Uuid, outcome: Delivered, latency: Duration, sharing: Sharing) -> StateAck {
        self.local.complete(id, outcome, latency, sharing)
    }
    fn share(&self, _id: &Uuid) {
        self.shared.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn abandon(&self, id: &Uuid) {
        self.local.abandon(id)
    }
    fn read(&self, id: &Uuid) -> Option<SendStatus> {
        self.local.read(id)
    }
    fn get<'a>(&'a self, id: &'a Uuid) -> BoxFuture<'a, Result<Option<SendStatus>, AppError>> {
        self.local.get(id)
    }
    fn recent(&self, limit: usize) -> Vec<SendStatus> {
        self.local.recent(limit)
    }
    fn keep_batch(&self, id: Uuid, entries: Vec<BatchEntry>) -> BoxFuture<'_, Result<(), String>> {
        self.local.keep_batch(id, entries)
    }
    fn batch<'a>(&'a self, id: &'a Uuid) -> BoxFuture<'a, Result<Option<Vec<BatchEntry>>, AppError>> {
        self.local.batch(id)
    }
    fn own_pending_ids(&self) -> Vec<Uuid> {
        self.local.own_pending_ids()
    }
    fn view(&self) -> &StatusStore {
        self.local.view()
    }
    fn topic(&self) -> Option<&str> {
        Some("state")
    }
    fn broker_back(&self) -> BoxFuture<'_, ()> {
        self.backs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    fn counting() -> Arc<CountingTable> {
        Arc::new(CountingTable::new(Arc::new(StatusStore::new(10, Duration::from_secs(60)))))
    }

    #[test]
    fn a_sync_outcome_left_to_carry_is_shared_by_the_report_once_its_caller_is_gone() {
        use crate::model::{ProducerMode, SendMode};
        use crate::server::kafka::{DeliveryReports, DeliveryTicket};
        let table = counting();
        let reports = DeliveryReports::new(table.clone(), crate::server::metrics::SendMetrics::detached());
        let ticket = |waiter| DeliveryTicket {
            request_id: Uuid::new_v4(),
            send_mode: SendMode::Sync,
            accepted: std::time::Instant::now(),
            waiter,
            partition: None,
            resent: false,
            carried: true,
        };
        let (tx, mut rx) = oneshot::channel();
        reports.deliver(ProducerMode::Idempotent, ticket(Some(tx)), "t", Ok((0, 1)));
        assert!(rx.try_recv().is_ok_and(|(report, _)| report == Ok((0, 1))), "the caller has it, to carry");
        assert_eq!(table.shared.load(Ordering::Relaxed), 0);
        let (tx, rx) = oneshot::channel();
        drop(rx);
        reports.deliver(ProducerMode::Idempotent, ticket(Some(tx)), "t", Ok((0, 2)));
        assert_eq!(table.shared.load(Ordering::Relaxed), 1, "nobody left to carry it");
    }

    #[test]
    fn a_status_left_to_carry_is_shared_unless_it_was_carried() {
        let table = counting();
        let table = table.as_ref();
        let mut carried = CarriedStatus::new(table, Uuid::new_v4());
        carried.carried();
        drop(carried);
        assert_eq!(table.shared.load(Ordering::Relaxed), 0, "its answer carried it");
        drop(CarriedStatus::new(table, Uuid::new_v4()));
        assert_eq!(table.shared.load(Ordering::Relaxed), 1, "not carried (no answer written, or the caller left)");
    }
}
