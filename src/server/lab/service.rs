//! The lab's one core, which both doors (REST and the server functions) only translate to:
//! start a run (awaited or detached, as the caller asks), list and read runs (every replica's:
//! each run is posted to the [`RunBoard`] as it starts, as it goes and as it ends), set and clear
//! the fault. Input arrives as text ([`LabParams`], [`FaultParams`]) and is validated here, once.

use super::board::{merged, PostedRun, RunBoard};
use super::faults::{no_proxy, not_a_switch, proxy_fault, status_of, switch_disabled};
use super::registry::{RunRecord, RunRegistry};
use super::run::{execute, run_settings, RunContext};
use crate::error::AppError;
use crate::model::{FaultParams, FaultStatus, LabParams, LabRunReport};
use crate::server::fault_proxy::FaultProxy;
use crate::server::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a run's progress is posted to the other replicas while it runs.
const POST_EVERY: Duration = Duration::from_millis(500);

/// Whether the caller waits for the run's result or gets the queued run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    ForResult,
    No,
}

/// The global fault switch: the proxy the service's own producers connect through, or why
/// there is none.
pub enum FaultSwitch {
    On(Arc<FaultProxy>),
    /// `LAB_GLOBAL_FAULTS` is off (the default with an external cluster).
    Disabled,
    /// The cluster is reached over TLS: no proxy can stand in front of it.
    NoProxy,
}

pub struct LabService {
    /// `None` when the service runs without a Kafka broker (router tests): runs are refused.
    runs: Option<RunContext>,
    switch: FaultSwitch,
    registry: RunRegistry,
    board: Arc<dyn RunBoard>,
    /// Runs take turns: a fault is global to the proxy.
    turn: tokio::sync::Mutex<()>,
    tasks: Shutdown,
    /// Cancelled first at shutdown: runs end between two sends.
    stop: CancellationToken,
}

impl LabService {
    pub fn new(runs: Option<RunContext>, switch: FaultSwitch, board: Arc<dyn RunBoard>, tasks: &Shutdown) -> Self {
        Self {
            runs,
            switch,
            registry: RunRegistry::default(),
            board,
            turn: tokio::sync::Mutex::new(()),
            tasks: tasks.clone(),
            stop: tasks.token().child_token(),
        }
    }

    /// Validates and registers a run, runs it in its own task (it finishes, and clears its
    /// fault, even if the caller goes away), and answers with its final report or, with
    /// [`Wait::No`], its queued one.
    pub async fn start(self: &Arc<Self>, params: &LabParams, wait: Wait) -> Result<LabRunReport, AppError> {
        let spec = params.validate()?;
        let Some(ctx) = &self.runs else {
            return Err(AppError::Unavailable {
                message: "The lab needs a Kafka broker; this service has none".into(),
            });
        };
        if spec.fault.kind.needs_proxy() && ctx.proxy.is_none() {
            return Err(no_proxy(spec.fault.kind));
        }
        let settings = run_settings(ctx, spec.fault.kind);
        let (created_ms, record) =
            self.registry.register(&spec, settings.describe(spec.mode), ctx.cluster.clone(), ctx.via());
        let queued = record.lock().clone();
        // Known to every replica before it is answered (read your writes, as for a send).
        if let Err(why) = self.board.post(PostedRun { created_ms, report: queued.clone() }).await {
            tracing::warn!(run = %queued.id, %why, "a lab run is known to this replica only");
        }
        let (lab, task_record, run_id) = (self.clone(), record.clone(), queued.id.clone());
        let task = self.tasks.spawn(async move {
            let _turn = lab.turn.lock().await;
            if let Some(ctx) = &lab.runs {
                tokio::select! {
                    _ = execute(ctx, &task_record, &lab.stop) => {}
                    _ = lab.post_progress(created_ms, &task_record) => {}
                }
            }
            let last = PostedRun { created_ms, report: task_record.lock().clone() };
            if let Err(why) = lab.board.post(last).await {
                tracing::warn!(run = %run_id, %why, "a lab run's result is known to this replica only");
            }
            lab.registry.mark_finished();
        });
        match wait {
            Wait::No => Ok(queued),
            Wait::ForResult => {
                task.await.map_err(|e| AppError::internal(format!("the lab run failed: {e}")))?;
                let done = record.lock().clone();
                Ok(done)
            }
        }
    }

    /// Posts the run's report whenever it changed, every [`POST_EVERY`], until dropped.
    async fn post_progress(&self, created_ms: i64, record: &RunRecord) {
        let mut ticks = tokio::time::interval(POST_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut posted = None;
        loop {
            ticks.tick().await;
            let now = record.lock().clone();
            if posted.as_ref() != Some(&now) {
                // The write is under way; its acknowledgement is not awaited (progress is best
                // effort, the last report is awaited).
                drop(self.board.post(PostedRun { created_ms, report: now.clone() }));
                posted = Some(now);
            }
        }
    }

    /// Past and current runs of every replica, newest first.
    pub fn list(&self) -> Vec<LabRunReport> {
        merged(self.registry.list(), self.board.others())
    }

    /// A run of any replica. An id that no run can have is not looked for elsewhere (a
    /// lookup of an unknown id costs a catch-up with the state topic).
    pub async fn get(&self, id: &str) -> Result<LabRunReport, AppError> {
        let unknown = || AppError::not_found(format!("No lab run with id '{}'", id.escape_debug()));
        if let Some(own) = self.registry.get(id) {
            return Ok(own);
        }
        if !RunRegistry::may_be_a_run_id(id) {
            return Err(unknown());
        }
        self.board.find(id).await?.ok_or_else(unknown)
    }

    /// Runs that reached an end since start.
    pub fn finished_runs(&self) -> u64 {
        self.registry.finished()
    }

    fn cluster(&self) -> &str {
        self.runs.as_ref().map_or("", |r| r.cluster.as_str())
    }

    /// The fault the switch applies now to every send of the service, and the proxies' listeners
    /// (the switch's, else the lab runs').
    pub fn fault_status(&self) -> FaultStatus {
        match (&self.switch, self.runs.as_ref().and_then(|r| r.proxy.as_deref())) {
            (FaultSwitch::On(proxy), _) => status_of(proxy, true, self.cluster()),
            (_, Some(lab)) => {
                let mut status = status_of(lab, false, self.cluster());
                status.kind = crate::model::FaultKind::None;
                (status.delay_ms, status.produce_requests_left, status.ms_left) = (None, None, None);
                status
            }
            (_, None) => FaultStatus::unavailable(),
        }
    }

    /// Switches a fault on (or off with `none`) for every send of the service, when the switch
    /// is enabled.
    pub fn set_fault(&self, params: &FaultParams) -> Result<FaultStatus, AppError> {
        let spec = params.validate()?;
        if spec.kind.caller_retries() {
            return Err(not_a_switch(spec.kind));
        }
        let proxy = match &self.switch {
            FaultSwitch::On(proxy) => proxy,
            FaultSwitch::Disabled => return Err(switch_disabled()),
            FaultSwitch::NoProxy => return Err(no_proxy(spec.kind)),
        };
        match proxy_fault(&spec) {
            Some(active) => proxy.set_fault(active),
            None => proxy.clear_fault(),
        }
        tracing::info!(fault = spec.kind.as_str(), "fault switched for every send");
        Ok(status_of(proxy, true, self.cluster()))
    }

    pub fn clear_fault(&self) -> Result<FaultStatus, AppError> {
        self.set_fault(&FaultParams::default())
    }

    /// The proxies in front of the cluster: the lab runs', the switch's.
    pub fn proxies(&self) -> Vec<&Arc<FaultProxy>> {
        let lab = self.runs.as_ref().and_then(|r| r.proxy.as_ref());
        let switch = match &self.switch {
            FaultSwitch::On(proxy) => Some(proxy),
            _ => None,
        };
        lab.into_iter().chain(switch).collect()
    }

    /// Ends the runs under way between two sends (first step of shutdown).
    pub fn stop_runs(&self) {
        self.stop.cancel();
    }
}
