//! The lab's one core, which both doors (REST and the server functions) only translate to:
//! start a run (awaited or detached, as the caller asks), list and read runs, set and clear the
//! fault. Input arrives as text ([`LabParams`], [`FaultParams`]) and is validated here, once.

use super::faults::{no_proxy, not_a_switch, proxy_fault, status_of};
use super::proxy::FaultProxy;
use super::registry::RunRegistry;
use super::run::{execute, run_settings, RunContext};
use crate::error::AppError;
use crate::model::{FaultKind, FaultParams, FaultStatus, LabParams, LabRunReport};
use crate::server::shutdown::Shutdown;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Whether the caller waits for the run's result or gets the queued run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    ForResult,
    No,
}

pub struct LabService {
    /// `None` when the service runs without a Kafka broker (router tests): runs are refused.
    runs: Option<RunContext>,
    proxy: Option<Arc<FaultProxy>>,
    registry: RunRegistry,
    /// Runs take turns: a fault is global to the proxy.
    turn: tokio::sync::Mutex<()>,
    tasks: Shutdown,
    /// Cancelled first at shutdown: runs end between two sends.
    stop: CancellationToken,
}

impl LabService {
    pub fn new(runs: Option<RunContext>, tasks: &Shutdown) -> Self {
        let proxy = runs.as_ref().and_then(|r| r.proxy.clone());
        Self {
            runs,
            proxy,
            registry: RunRegistry::default(),
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
        if spec.fault.kind.needs_proxy() && self.proxy.is_none() {
            return Err(no_proxy(spec.fault.kind));
        }
        let record = self.registry.register(&spec, run_settings(&ctx.settings, spec.fault.kind).describe(spec.mode));
        let queued = record.lock().clone();
        let lab = self.clone();
        let task_record = record.clone();
        let task = self.tasks.spawn(async move {
            let _turn = lab.turn.lock().await;
            if let Some(ctx) = &lab.runs {
                execute(ctx, &task_record, &lab.stop).await;
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

    /// Past and current runs, newest first.
    pub fn list(&self) -> Vec<LabRunReport> {
        self.registry.list()
    }

    pub fn get(&self, id: &str) -> Result<LabRunReport, AppError> {
        self.registry.get(id).ok_or_else(|| AppError::not_found(format!("No lab run with id '{id}'")))
    }

    /// Runs that reached an end since start.
    pub fn finished_runs(&self) -> u64 {
        self.registry.finished()
    }

    /// The fault the proxy applies now (to every producer behind it, not only lab runs).
    pub fn fault_status(&self) -> FaultStatus {
        self.proxy.as_deref().map_or_else(FaultStatus::unavailable, status_of)
    }

    /// Switches a fault on (or off with `none`) for every producer behind the proxy.
    pub fn set_fault(&self, params: &FaultParams) -> Result<FaultStatus, AppError> {
        let spec = params.validate()?;
        if spec.kind == FaultKind::ClientRetry {
            return Err(not_a_switch(spec.kind));
        }
        let Some(proxy) = &self.proxy else {
            return Err(no_proxy(spec.kind));
        };
        match proxy_fault(&spec) {
            Some(active) => proxy.set_fault(active),
            None => proxy.clear_fault(),
        }
        tracing::info!(fault = spec.kind.as_str(), "fault switched");
        Ok(status_of(proxy))
    }

    pub fn clear_fault(&self) -> Result<FaultStatus, AppError> {
        self.set_fault(&FaultParams::default())
    }

    /// The proxy in front of the broker, if there is one.
    pub fn proxy(&self) -> Option<&Arc<FaultProxy>> {
        self.proxy.as_ref()
    }

    /// Ends the runs under way between two sends (first step of shutdown).
    pub fn stop_runs(&self) {
        self.stop.cancel();
    }
}
