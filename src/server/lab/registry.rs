//! The runs this replica ran (the last [`KEPT_RUNS`]), each shared between its task and readers.

use super::board::{PostedRun, KEPT_RUNS};
use crate::model::{LabRunReport, LabRunSpec, LabRunState, Verification};
use crate::server::idempotency::now_ms;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use uuid::Uuid;

/// A run's id: the first hex digits of a random UUID.
const RUN_ID_LEN: usize = 12;

/// One run's report, updated by its task while readers watch its progress.
pub type RunRecord = Arc<Mutex<LabRunReport>>;

#[derive(Default)]
pub struct RunRegistry {
    /// Newest first, each with when it was registered.
    runs: Mutex<VecDeque<(i64, RunRecord)>>,
    finished: AtomicU64,
}

impl RunRegistry {
    /// Registers a queued run for `spec`, with the producer settings it will run with; answers
    /// when it was registered, and its record.
    pub fn register(
        &self,
        spec: &LabRunSpec,
        settings: Vec<(String, String)>,
        cluster: String,
        via: Option<String>,
    ) -> (i64, RunRecord) {
        let id = Uuid::new_v4().simple().to_string()[..RUN_ID_LEN].to_owned();
        let report = LabRunReport {
            topic: format!("lab-{}-{id}", spec.mode),
            id,
            state: LabRunState::Queued,
            mode: spec.mode,
            send_mode: spec.send_mode,
            count: spec.count,
            fault: spec.fault.clone(),
            settings,
            cluster,
            via,
            sent: 0,
            replayed: 0,
            acked: 0,
            failed: 0,
            unknown: 0,
            unknown_reason: None,
            resent_messages: 0,
            latency_p50_ms: None,
            latency_max_ms: None,
            verification: Verification::default(),
            duration_ms: 0,
            error: None,
        };
        let record = Arc::new(Mutex::new(report));
        let created_ms = now_ms();
        let mut runs = self.runs.lock();
        runs.push_front((created_ms, record.clone()));
        runs.truncate(KEPT_RUNS);
        (created_ms, record)
    }

    /// Past and current runs, newest first.
    pub fn list(&self) -> Vec<PostedRun> {
        self.runs
            .lock()
            .iter()
            .map(|(created_ms, r)| PostedRun { created_ms: *created_ms, report: r.lock().clone() })
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<LabRunReport> {
        self.runs.lock().iter().map(|(_, r)| r.lock().clone()).find(|r| r.id == id)
    }

    /// Whether `id` has the shape of a run's id (any replica's).
    pub fn may_be_a_run_id(id: &str) -> bool {
        id.len() == RUN_ID_LEN && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    pub fn mark_finished(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs that reached an end (done or failed) since start.
    pub fn finished(&self) -> u64 {
        self.finished.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabParams;

    #[test]
    fn a_run_id_has_a_shape_no_other_string_is_taken_for() {
        let params = LabParams { mode: Some("plain".into()), count: Some("1".into()), ..Default::default() };
        let (_, run) =
            RunRegistry::default().register(&params.validate().expect("valid"), Vec::new(), String::new(), None);
        let id = run.lock().id.clone();
        assert!(RunRegistry::may_be_a_run_id(&id), "{id}");
        for other in ["abc", "", "0123456789abcdef", "0123456789AB", "0123456789ag", "../../etc"] {
            assert!(!RunRegistry::may_be_a_run_id(other), "{other}");
        }
    }
}
