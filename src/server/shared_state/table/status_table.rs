//! The shared table as the send core sees it: the [`StatusTable`] a send is accepted, completed
//! and read through, answered from the local view and written to the state topic.

use super::SharedStatusTable;
use crate::error::AppError;
use crate::model::SendStatus;
use crate::server::shared_state::record::{BatchPartRecord, StateRecord};
use crate::server::status_store::{Delivered, StatusStore};
use crate::server::status_table::batches::{into_parts, PART_BYTES};
use crate::server::status_table::{insert_waiting, BatchEntry, Recording, Sharing, StateAck, StatusTable, Unsent};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::atomic::Ordering;
use std::time::Duration;
use uuid::Uuid;

impl StatusTable for SharedStatusTable {
    fn accept(&self, mut status: SendStatus, recording: Recording) -> BoxFuture<'_, Result<StateAck, AppError>> {
        status.replica = Some(self.settings.replica.clone());
        async move {
            if recording != Recording::Local && !self.writable.load(Ordering::Acquire) {
                let reason = self.not_ready.borrow().clone().unwrap_or_default();
                return Err(AppError::Unavailable {
                    message: format!("Async sends wait for the state topic; retry shortly ({reason})"),
                });
            }
            let id = status.request_id;
            insert_waiting(&self.view.store, &status, self.settings.max_block).await?;
            match recording {
                Recording::Local => return Ok(StateAck::done()),
                Recording::Beside => return Ok(self.write_status(&status, true)),
                Recording::Durable => {}
            }
            // Abandoned if the write fails, or if the caller goes away while it is under way.
            let mut unsent = Unsent::new(self, id);
            match self.write_status(&status, true).wait(self.settings.write_timeout).await {
                Ok(()) => {
                    unsent.keep();
                    Ok(StateAck::done())
                }
                Err(why) => {
                    drop(unsent);
                    Err(AppError::Unavailable {
                        message: format!(
                            "The send was not accepted and nothing was sent: its status could not be recorded in the \
                             state topic ({why})"
                        ),
                    })
                }
            }
        }
        .boxed()
    }

    fn complete(&self, id: &Uuid, outcome: Delivered, latency: Duration, sharing: Sharing) -> StateAck {
        if !self.view.store.complete(id, outcome, latency) || sharing == Sharing::Carried {
            return StateAck::done();
        }
        match self.view.store.get(id) {
            Some(status) => self.write_status(&status, sharing == Sharing::Acknowledged),
            None => StateAck::done(),
        }
    }

    fn share(&self, id: &Uuid) {
        if let Some(status) = self.view.store.get(id) {
            self.write_status(&status, false);
        }
    }

    /// Forgets it here and in every view (after whatever was written of it).
    fn abandon(&self, id: &Uuid) {
        self.view.store.remove(id);
        self.statuses.forget(*id);
    }

    fn read(&self, id: &Uuid) -> Option<SendStatus> {
        self.view.read(id)
    }

    fn get<'a>(&'a self, id: &'a Uuid) -> BoxFuture<'a, Result<Option<SendStatus>, AppError>> {
        self.catch_up
            .look_up(self.settings.catch_up, move || self.view.read(id), move || format!("requestId {id}"))
            .boxed()
    }

    fn recent(&self, limit: usize) -> Vec<SendStatus> {
        self.view.recent(limit)
    }

    /// Kept here at once, then written in parts; resolves once every part is acknowledged.
    fn keep_batch(&self, id: Uuid, entries: Vec<BatchEntry>) -> BoxFuture<'_, Result<(), String>> {
        let parts = into_parts(id, entries, PART_BYTES);
        let mut acks = Vec::with_capacity(parts.len());
        for part in parts {
            self.view.batches.add(part.clone());
            let record = StateRecord::Batch(BatchPartRecord { replica: self.settings.replica.clone(), part });
            acks.push(self.writer.write_acked(&record));
        }
        async move {
            for ack in acks {
                ack.wait(self.settings.write_timeout).await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn batch<'a>(&'a self, id: &'a Uuid) -> BoxFuture<'a, Result<Option<Vec<BatchEntry>>, AppError>> {
        self.catch_up
            .look_up(self.settings.catch_up, move || self.view.batches.get(id), move || format!("batch {id}"))
            .boxed()
    }

    fn own_pending_ids(&self) -> Vec<Uuid> {
        self.view.store.pending_ids_of(&self.settings.replica)
    }

    fn view(&self) -> &StatusStore {
        &self.view.store
    }

    fn not_ready(&self) -> Option<String> {
        self.not_ready.borrow().clone()
    }

    fn replica(&self) -> &str {
        &self.settings.replica
    }

    fn alive_replicas(&self) -> Vec<String> {
        self.view.replicas.alive()
    }

    fn topic(&self) -> Option<&str> {
        self.writable.load(Ordering::Acquire).then_some(self.settings.topic.as_str())
    }

    /// A broker that lost its state lost the topic too: new clients (the writer's idempotent
    /// session and the follower's consumer would otherwise meet the topic again under a new id,
    /// which librdkafka 2.12's metadata cache does not survive), the topic created again, and
    /// the follower starting over from its beginning. What the view holds is kept.
    fn broker_back(&self) -> BoxFuture<'_, ()> {
        async move {
            let (writer, following, claims) = (self.writer.clone(), self.following.clone(), self.claims.clone());
            let _ = tokio::task::spawn_blocking(move || {
                following.stop();
                claims.stop();
                writer.renew("the broker came back without its state");
            })
            .await;
            self.topics.forget(Some(&self.settings.topic));
            if let Err(error) = self.ensure_topic().await {
                tracing::warn!(%error, "the state topic could not be created again after the broker came back");
            }
            self.progress.reset();
            if let Err(error) = self.follow().await {
                tracing::error!(%error, "the state topic is no longer followed");
            }
            self.beat(false);
        }
        .boxed()
    }
}
