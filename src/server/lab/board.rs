//! Where a replica's lab runs meet every other replica's, so that behind a load balancer the
//! Lab page and `GET /api/v1/lab/runs[/{id}]` show every run whichever replica answers:
//! [`RunBoard`]. The service's board is the state topic (`shared_state::SharedRunBoard`);
//! [`LocalRunBoard`] shows this process's runs only. [`PostedRuns`] holds what the others
//! posted.

use crate::error::AppError;
use crate::model::{LabRunReport, LabRunState};
use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use std::collections::VecDeque;

/// Runs kept, here and in every replica's view of the others' runs.
pub const KEPT_RUNS: usize = 100;

/// A run's report as its replica last posted it, with when the run was registered (runs are
/// listed newest first, whichever replica they ran on).
#[derive(Debug, Clone, PartialEq)]
pub struct PostedRun {
    pub created_ms: i64,
    pub report: LabRunReport,
}

pub trait RunBoard: Send + Sync {
    /// Shares a run's report as it stands (the latest posted wins). The write is under way when
    /// this returns; the future resolves once every replica can read it (bounded), or says why
    /// not. Progress is posted without waiting.
    fn post(&self, run: PostedRun) -> BoxFuture<'_, Result<(), String>>;

    /// Other replicas' runs, as last posted.
    fn others(&self) -> Vec<PostedRun>;

    /// Another replica's run; on a miss, first catches up with what the others wrote (bounded:
    /// [`AppError::Behind`] when it could not).
    fn find<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<LabRunReport>, AppError>>;
}

/// A board for one process: nothing posted goes anywhere.
pub struct LocalRunBoard;

impl RunBoard for LocalRunBoard {
    fn post(&self, _run: PostedRun) -> BoxFuture<'_, Result<(), String>> {
        async { Ok(()) }.boxed()
    }

    fn others(&self) -> Vec<PostedRun> {
        Vec::new()
    }

    fn find<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Option<LabRunReport>, AppError>> {
        async { Ok(None) }.boxed()
    }
}

/// The last [`KEPT_RUNS`] runs other replicas posted, each as last posted, with the replica
/// that runs it.
#[derive(Default)]
pub struct PostedRuns {
    runs: Mutex<VecDeque<(String, PostedRun)>>,
}

impl PostedRuns {
    pub fn upsert(&self, replica: &str, run: PostedRun) {
        let mut runs = self.runs.lock();
        if let Some((_, kept)) = runs.iter_mut().find(|(_, r)| r.report.id == run.report.id) {
            *kept = run;
            return;
        }
        if runs.len() == KEPT_RUNS {
            runs.pop_front();
        }
        runs.push_back((replica.to_owned(), run));
    }

    pub fn list(&self) -> Vec<(String, PostedRun)> {
        self.runs.lock().iter().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<(String, LabRunReport)> {
        self.runs.lock().iter().find(|(_, r)| r.report.id == id).map(|(replica, r)| (replica.clone(), r.report.clone()))
    }
}

/// A run as it reads now: one still queued or running on a replica that is gone (killed, or
/// cut off for longer than its lease) will never end there, so it reads failed, and says why.
pub fn judged(mut report: LabRunReport, replica: &str, gone: impl Fn(&str) -> bool) -> LabRunReport {
    if matches!(report.state, LabRunState::Queued | LabRunState::Running) && gone(replica) {
        report.state = LabRunState::Failed;
        report.error = Some(format!(
            "replica {replica} stopped before this run ended: its counts are as it last posted them, and some of its \
             records may be in topic {}",
            report.topic
        ));
    }
    report
}

/// This replica's runs and the others', newest first, at most [`KEPT_RUNS`] (a run of this
/// replica's own is shown as it stands here, never as it was last posted).
pub fn merged(own: Vec<PostedRun>, others: Vec<PostedRun>) -> Vec<LabRunReport> {
    let mut all = own;
    for run in others {
        if !all.iter().any(|r| r.report.id == run.report.id) {
            all.push(run);
        }
    }
    all.sort_by_key(|r| std::cmp::Reverse(r.created_ms));
    all.into_iter().take(KEPT_RUNS).map(|r| r.report).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LabParams, LabRunState};
    use crate::server::lab::registry::RunRegistry;

    fn run(id: &str, created_ms: i64, state: LabRunState) -> PostedRun {
        let params = LabParams { mode: Some("plain".into()), count: Some("1".into()), ..Default::default() };
        let spec = params.validate().expect("a valid run");
        let (_, record) = RunRegistry::default().register(&spec, Vec::new(), String::new(), None);
        let mut report = record.lock().clone();
        (report.id, report.state) = (id.into(), state);
        PostedRun { created_ms, report }
    }

    #[test]
    fn a_run_posted_again_replaces_what_was_posted() {
        let posted = PostedRuns::default();
        posted.upsert("r1", run("a", 1, LabRunState::Running));
        posted.upsert("r1", run("a", 1, LabRunState::Done));
        assert_eq!(posted.list().len(), 1);
        assert_eq!(posted.get("a").map(|(replica, r)| (replica, r.state)), Some(("r1".into(), LabRunState::Done)));
    }

    #[test]
    fn a_run_left_unfinished_by_a_replica_that_is_gone_reads_failed() {
        let gone = |replica: &str| replica == "dead";
        for state in [LabRunState::Queued, LabRunState::Running] {
            let report = judged(run("a", 1, state).report, "dead", gone);
            assert_eq!(report.state, LabRunState::Failed);
            assert!(report.error.is_some_and(|e| e.contains("replica dead stopped")));
            assert_eq!(judged(run("a", 1, state).report, "alive", gone).state, state, "its replica still runs it");
        }
        assert_eq!(judged(run("a", 1, LabRunState::Done).report, "dead", gone).state, LabRunState::Done);
    }

    #[test]
    fn every_replicas_runs_are_listed_newest_first_and_own_runs_as_they_stand_here() {
        let own = vec![run("mine", 20, LabRunState::Running), run("old", 5, LabRunState::Done)];
        let others = vec![run("theirs", 10, LabRunState::Done), run("mine", 20, LabRunState::Queued)];
        let listed: Vec<(String, LabRunState)> = merged(own, others).into_iter().map(|r| (r.id, r.state)).collect();
        let expected = [("mine", LabRunState::Running), ("theirs", LabRunState::Done), ("old", LabRunState::Done)];
        assert_eq!(listed, expected.map(|(id, state)| (id.to_owned(), state)));
    }
}
