//! What every request handler (REST or server function) reaches: the send core, the lab, the
//! broker's health and the metrics. Cloned for every request, so it is one reference-counted
//! pointer.

use crate::model::BrokerInfo;
use crate::server::access::AccessPolicy;
use crate::server::batch::BatchService;
use crate::server::idempotency::IdempotencyGate;
use crate::server::kafka::{BrokerMonitor, KafkaSettings};
use crate::server::lab::LabService;
use crate::server::metrics::Metrics;
use crate::server::send::SendService;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

pub struct AppParts {
    pub leptos_options: LeptosOptions,
    pub send: SendService,
    /// Every send passes it: keyed sends are claimed and their answers recorded.
    pub gate: IdempotencyGate,
    /// Many records in one request, through the send core.
    pub batches: BatchService,
    /// Largest JSON batch body (`BATCH_MAX_BYTES`).
    pub batch_max_bytes: usize,
    pub broker: Arc<BrokerMonitor>,
    pub kafka: Arc<KafkaSettings>,
    pub lab: Arc<LabService>,
    pub metrics: Arc<Metrics>,
    pub access: Arc<AccessPolicy>,
}

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }

    /// The broker as both doors describe it: kind, readiness (the status view rebuilt too),
    /// topics, last producer failure, and the replicas sharing the statuses.
    pub async fn broker_info(&self) -> BrokerInfo {
        let last_failure = self.send.producers().last_failure();
        let mut info = self.broker.info(self.send.topics().as_ref(), self.send.default_topic(), last_failure).await;
        let table = self.send.table();
        if let (true, Some(reason)) = (info.ready, table.not_ready()) {
            info.ready = false;
            info.reason = Some(reason);
        }
        info.replica = table.replica().to_owned();
        info.replicas = table.alive_replicas();
        info
    }
}

impl Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
