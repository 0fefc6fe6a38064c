//! What every request handler (REST or server function) reaches: the send core and the broker.

use crate::model::BrokerInfo;
use crate::server::kafka::{BrokerMonitor, KafkaSettings};
use crate::server::lab::LabRunner;
use crate::server::metrics::Metrics;
use crate::server::send::SendService;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub send: SendService,
    pub broker: Arc<BrokerMonitor>,
    pub kafka: Arc<KafkaSettings>,
    pub lab: Arc<LabRunner>,
    pub metrics: Arc<Metrics>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// The broker as both doors describe it: kind, readiness, topics, last producer failure.
    pub async fn broker_info(&self) -> BrokerInfo {
        self.broker.info(self.send.topics(), self.send.default_topic(), self.send.producers().last_fatal()).await
    }
}
