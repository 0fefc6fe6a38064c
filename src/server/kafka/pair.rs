//! One plain and one idempotent producer, shared by every request of the process, and their
//! recovery: a producer that hits a fatal error (e.g. OUT_OF_ORDER_SEQUENCE on an idempotent
//! producer) is replaced at once; what it still held is answered with ERROR, never left PENDING.

use super::producers::{KafkaProducer, ReportSinks};
use super::settings::KafkaSettings;
use super::topics::TopicRegistry;
use crate::model::ProducerMode;
use crate::server::metrics::SendMetrics;
use crate::server::status_store::StatusStore;
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use rdkafka::error::KafkaError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a replaced producer may take to report what it had already sent.
const RETIRE_FLUSH: Duration = Duration::from_secs(5);

pub struct ProducerPair {
    settings: KafkaSettings,
    sinks: ReportSinks,
    plain: ArcSwap<KafkaProducer>,
    idempotent: ArcSwap<KafkaProducer>,
    fatal_rx: Mutex<Option<mpsc::UnboundedReceiver<ProducerMode>>>,
    last_fatal: Mutex<Option<String>>,
}

impl ProducerPair {
    pub fn new(
        settings: &KafkaSettings,
        store: Arc<StatusStore>,
        topics: Arc<TopicRegistry>,
        metrics: Arc<SendMetrics>,
    ) -> Result<Self, KafkaError> {
        let (fatal, fatal_rx) = mpsc::unbounded_channel();
        let sinks = ReportSinks { store, topics, metrics, fatal };
        Ok(Self {
            plain: ArcSwap::from_pointee(KafkaProducer::new(settings, ProducerMode::Plain, sinks.clone())?),
            idempotent: ArcSwap::from_pointee(KafkaProducer::new(settings, ProducerMode::Idempotent, sinks.clone())?),
            settings: settings.clone(),
            sinks,
            fatal_rx: Mutex::new(Some(fatal_rx)),
            last_fatal: Mutex::new(None),
        })
    }

    fn slot(&self, mode: ProducerMode) -> &ArcSwap<KafkaProducer> {
        match mode {
            ProducerMode::Plain => &self.plain,
            ProducerMode::Idempotent => &self.idempotent,
        }
    }

    pub fn get(&self, mode: ProducerMode) -> Arc<KafkaProducer> {
        self.slot(mode).load_full()
    }

    /// Records of both producers not yet reported.
    pub fn in_flight(&self) -> i32 {
        ProducerMode::ALL.iter().map(|m| self.get(*m).in_flight()).sum()
    }

    /// Flushes both producers within `timeout` in all; returns how many records remain.
    pub fn flush(&self, timeout: Duration) -> i32 {
        let deadline = std::time::Instant::now() + timeout;
        ProducerMode::ALL
            .iter()
            .map(|m| self.get(*m).flush(deadline.saturating_duration_since(std::time::Instant::now())))
            .sum()
    }

    /// Where both producers count their sends.
    pub fn metrics(&self) -> &Arc<SendMetrics> {
        &self.sinks.metrics
    }

    /// The last fatal producer error and what was done about it, for readiness and the UI.
    pub fn last_fatal(&self) -> Option<String> {
        self.last_fatal.lock().clone()
    }

    /// Starts replacing producers that report a fatal error. Call once.
    pub fn watch_fatal_errors(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let mut rx = self.fatal_rx.lock().take()?;
        let pair = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            while let Some(mode) = rx.recv().await {
                let Some(pair) = pair.upgrade() else { return };
                pair.replace_if_fatal(mode).await;
            }
        }))
    }

    async fn replace_if_fatal(&self, mode: ProducerMode) {
        // librdkafka may report one fatal error more than once: replace only a failed producer.
        let Some(cause) = self.get(mode).fatal_error() else { return };
        tracing::error!(%mode, %cause, "fatal producer error: replacing the producer; its unsent records end in ERROR");
        if self.replace(mode).await {
            *self.last_fatal.lock() = Some(format!(
                "{mode} producer hit a fatal error ({cause}) at {} and was replaced",
                crate::server::send::now_rfc3339().unwrap_or_default()
            ));
        } else {
            *self.last_fatal.lock() = Some(format!("{mode} producer: fatal error {cause}; its replacement failed"));
        }
    }

    /// Starts the idempotent producer afresh after the broker came back from an outage: a
    /// broker that lost its state (an in-memory one always does) no longer knows the old
    /// producer id, and librdkafka would retry against it until every send times out.
    pub async fn renew_after_outage(&self) {
        tracing::info!("broker back after an outage: renewing the idempotent producer's session");
        self.replace(ProducerMode::Idempotent).await;
    }

    /// Swaps in a new producer, then lets the old one report what it had sent and fail (with a
    /// delivery report each) what it still held. False if the new producer could not be made.
    async fn replace(&self, mode: ProducerMode) -> bool {
        let replacement = match KafkaProducer::new(&self.settings, mode, self.sinks.clone()) {
            Ok(p) => p,
            Err(error) => {
                tracing::error!(%mode, %error, "cannot create a replacement producer");
                return false;
            }
        };
        let retired = self.slot(mode).swap(Arc::new(replacement));
        let _ = tokio::task::spawn_blocking(move || retired.retire(RETIRE_FLUSH)).await;
        true
    }

    /// Raises a fatal error in a producer, as librdkafka would on a broker's fatal answer.
    /// Only for tests of the recovery path.
    #[doc(hidden)]
    pub fn inject_fatal_error(&self, mode: ProducerMode) {
        self.get(mode).inject_fatal_error();
    }
}
