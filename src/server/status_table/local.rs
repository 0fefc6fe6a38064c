//! A status table in this process's memory only: a lab run's own sends, and tests.

use super::batches::{into_parts, BatchEntry, KeptBatches};
use super::{Recording, Sharing, StateAck, StatusTable};
use crate::error::AppError;
use crate::model::SendStatus;
use crate::server::room_wait::RoomWait;
use crate::server::status_store::{Delivered, StatusStore, StoreFull};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub struct LocalStatusTable {
    store: Arc<StatusStore>,
    batches: KeptBatches,
}

impl LocalStatusTable {
    pub fn new(store: Arc<StatusStore>) -> Self {
        Self { store, batches: KeptBatches::default() }
    }
}

/// The refusal of a send when every status kept is still PENDING.
pub fn store_full(full: StoreFull) -> AppError {
    AppError::Overloaded {
        message: format!(
            "Every one of the {} statuses kept (STATUS_STORE_CAPACITY) is a send still waiting for its delivery \
             report; none is forgotten, so this send is refused: retry shortly",
            full.capacity
        ),
        retry_after_secs: 1,
    }
}

/// Records a PENDING status; while every status kept is PENDING, waits for room (short, growing
/// pauses) up to `bound`, so that a burst the broker cannot follow slows its callers to the
/// broker's pace, as a full librdkafka queue does, instead of failing them at once. Past the
/// bound: 503.
pub async fn insert_waiting(store: &StatusStore, status: &SendStatus, bound: Duration) -> Result<(), AppError> {
    let mut room = RoomWait::new(bound);
    loop {
        match store.insert(status.clone()) {
            Ok(()) => return Ok(()),
            Err(full) if room.passed() => return Err(store_full(full)),
            Err(_) => room.pause().await,
        }
    }
}

impl StatusTable for LocalStatusTable {
    fn accept(&self, status: SendStatus, _recording: Recording) -> BoxFuture<'_, Result<StateAck, AppError>> {
        let inserted = self.store.insert(status).map(|()| StateAck::done()).map_err(store_full);
        async move { inserted }.boxed()
    }

    fn complete(&self, id: &Uuid, outcome: Delivered, latency: Duration, _sharing: Sharing) -> StateAck {
        if !self.store.complete(id, outcome, latency) {
            tracing::debug!(request_id = %id, "delivery report for a status no longer kept");
        }
        StateAck::done()
    }

    fn abandon(&self, id: &Uuid) {
        self.store.remove(id);
    }

    fn read(&self, id: &Uuid) -> Option<SendStatus> {
        self.store.get(id)
    }

    fn get<'a>(&'a self, id: &'a Uuid) -> BoxFuture<'a, Result<Option<SendStatus>, AppError>> {
        let found = self.store.get(id);
        async move { Ok(found) }.boxed()
    }

    fn recent(&self, limit: usize) -> Vec<SendStatus> {
        self.store.recent(limit)
    }

    fn keep_batch(&self, id: Uuid, entries: Vec<BatchEntry>) -> BoxFuture<'_, Result<(), String>> {
        for part in into_parts(id, entries, usize::MAX) {
            self.batches.add(part);
        }
        async { Ok(()) }.boxed()
    }

    fn batch<'a>(&'a self, id: &'a Uuid) -> BoxFuture<'a, Result<Option<Vec<BatchEntry>>, AppError>> {
        let found = self.batches.get(id);
        async move { Ok(found) }.boxed()
    }

    fn own_pending_ids(&self) -> Vec<Uuid> {
        self.store.pending_ids()
    }

    fn view(&self) -> &StatusStore {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::status_store::pending_for_test;

    fn pending() -> SendStatus {
        pending_for_test("e")
    }

    #[tokio::test]
    async fn a_send_waits_for_room_in_a_store_full_of_pending_sends() {
        let store = Arc::new(StatusStore::new(1, Duration::from_secs(60)));
        let first = pending();
        store.insert(first.clone()).expect("room for one");
        let waiting = tokio::spawn({
            let store = store.clone();
            async move { insert_waiting(&store, &pending(), Duration::from_secs(10)).await }
        });
        store.complete(&first.request_id, Delivered::Ok { partition: 0, offset: 0 }, Duration::ZERO);
        assert!(waiting.await.expect("joined").is_ok(), "room once the first send was delivered");
    }

    #[tokio::test]
    async fn past_the_bound_a_full_store_answers_503() {
        let store = StatusStore::new(1, Duration::from_secs(60));
        store.insert(pending()).expect("room for one");
        let refused = insert_waiting(&store, &pending(), Duration::from_millis(20)).await;
        assert!(matches!(refused, Err(AppError::Overloaded { .. })), "{refused:?}");
    }
}
