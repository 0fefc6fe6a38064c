//! The lab's [`RunBoard`] over the state topic: a run's report is a record keyed `lab/<run id>`
//! (compaction keeps the last one posted), applied by every other replica's view.

use super::catch_up::CatchUp;
use super::record::{LabRunRecord, StateRecord};
use super::view::StateView;
use super::writer::StateWriter;
use crate::error::AppError;
use crate::model::LabRunReport;
use crate::server::lab::board::{judged, PostedRun, RunBoard};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;
use std::time::Duration;

pub struct SharedRunBoard {
    pub(super) writer: Arc<StateWriter>,
    pub(super) view: Arc<StateView>,
    pub(super) catch_up: Arc<CatchUp>,
    pub(super) replica: String,
    /// Bound on a post's acknowledgement.
    pub(super) write_timeout: Duration,
    /// How long a miss may wait for the view to catch up.
    pub(super) catch_up_bound: Duration,
}

impl RunBoard for SharedRunBoard {
    fn post(&self, run: PostedRun) -> BoxFuture<'_, Result<(), String>> {
        let record = StateRecord::LabRun(LabRunRecord {
            replica: self.replica.clone(),
            created_ms: run.created_ms,
            report: run.report,
        });
        let ack = self.writer.write_acked(&record);
        async move { ack.wait(self.write_timeout).await }.boxed()
    }

    fn others(&self) -> Vec<PostedRun> {
        let gone = |replica: &str| self.view.replicas.is_gone(replica);
        let judge = |(replica, run): (String, PostedRun)| PostedRun {
            created_ms: run.created_ms,
            report: judged(run.report, &replica, gone),
        };
        self.view.runs.list().into_iter().map(judge).collect()
    }

    fn find<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<LabRunReport>, AppError>> {
        let found = move || {
            let (replica, report) = self.view.runs.get(id)?;
            Some(judged(report, &replica, |r| self.view.replicas.is_gone(r)))
        };
        self.catch_up.look_up(self.catch_up_bound, found, move || format!("lab run {id}")).boxed()
    }
}
