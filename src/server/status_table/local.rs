//! A status table in this process's memory only: a lab run's own sends, and tests.

use super::{StateAck, StatusTable};
use crate::error::AppError;
use crate::model::SendStatus;
use crate::server::status_store::{Delivered, StatusStore, StoreFull};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub struct LocalStatusTable {
    store: Arc<StatusStore>,
}

impl LocalStatusTable {
    pub fn new(store: Arc<StatusStore>) -> Self {
        Self { store }
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

impl StatusTable for LocalStatusTable {
    fn accept(&self, status: SendStatus, _durable: bool) -> BoxFuture<'_, Result<(), AppError>> {
        let inserted = self.store.insert(status).map_err(store_full);
        async move { inserted }.boxed()
    }

    fn complete(&self, id: &Uuid, outcome: Delivered, latency: Duration, _durable: bool) -> StateAck {
        if !self.store.complete(id, outcome, latency) {
            tracing::debug!(request_id = %id, "delivery report for a status no longer kept");
        }
        StateAck::done()
    }

    fn abandon(&self, id: &Uuid) {
        self.store.remove(id);
    }

    fn get<'a>(&'a self, id: &'a Uuid) -> BoxFuture<'a, Option<SendStatus>> {
        let found = self.store.get(id);
        async move { found }.boxed()
    }

    fn recent(&self, limit: usize) -> Vec<SendStatus> {
        self.store.recent(limit)
    }

    fn own_pending_ids(&self) -> Vec<Uuid> {
        self.store.pending_ids()
    }

    fn view(&self) -> &StatusStore {
        &self.store
    }
}
