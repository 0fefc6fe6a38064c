//! One plain and one idempotent producer, shared by every request of the process, and their
//! recovery: a producer that hits a fatal error (e.g. OUT_OF_ORDER_SEQUENCE on an idempotent
//! producer) is replaced at once; what it still held is answered with ERROR, never left PENDING.

use super::port::{OutgoingRecord, RecordProducer, TopicCatalog};
use super::producers::{KafkaProducer, ReportSinks};
use super::reports::{DeliveryReports, DeliveryTicket};
use super::settings::KafkaSettings;
use crate::error::AppError;
use crate::model::ProducerMode;
use crate::server::shutdown::Shutdown;
use arc_swap::ArcSwap;
use futures::future::BoxFuture;
use futures::FutureExt;
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
        reports: Arc<DeliveryReports>,
        topics: Arc<dyn TopicCatalog>,
    ) -> Result<Self, KafkaError> {
        let (fatal, fatal_rx) = mpsc::unbounded_channel();
        let sinks = ReportSinks { reports, topics, fatal };
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

    /// Replaces producers that report a fatal error, until shutdown. Call once.
    pub fn watch_fatal_errors(self: &Arc<Self>, shutdown: &Shutdown) {
        let Some(mut rx) = self.fatal_rx.lock().take() else { return };
        let pair = self.clone();
        let stop = shutdown.token();
        shutdown.spawn(async move {
            loop {
                let mode = tokio::select! {
                    _ = stop.cancelled() => return,
                    mode = rx.recv() => match mode { Some(m) => m, None => return },
                };
                pair.replace_if_fatal(mode).await;
            }
        });
    }

    async fn replace_if_fatal(&self, mode: ProducerMode) {
        // librdkafka may report one fatal error more than once: replace only a failed producer.
        let Some(cause) = self.get(mode).fatal_error() else { return };
        tracing::error!(%mode, %cause, "fatal producer error: replacing the producer; its unsent records end in ERROR");
        let at = crate::server::send::now_rfc3339().unwrap_or_default();
        *self.last_fatal.lock() = Some(if self.replace(mode).await {
            format!("{mode} producer hit a fatal error ({cause}) at {at} and was replaced")
        } else {
            format!("{mode} producer: fatal error {cause}; its replacement failed")
        });
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
    #[cfg(feature = "test-hooks")]
    pub fn inject_fatal_error(&self, mode: ProducerMode) {
        self.get(mode).inject_fatal_error();
    }
}

impl RecordProducer for ProducerPair {
    fn send<'a>(
        &'a self,
        mode: ProducerMode,
        record: OutgoingRecord<'a>,
        ticket: Box<DeliveryTicket>,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        async move { self.get(mode).send(record, ticket).await }.boxed()
    }

    fn in_flight(&self) -> i32 {
        ProducerMode::ALL.iter().map(|m| self.get(*m).in_flight()).sum()
    }

    fn flush(&self, timeout: Duration) -> i32 {
        let deadline = std::time::Instant::now() + timeout;
        ProducerMode::ALL
            .iter()
            .map(|m| self.get(*m).flush(deadline.saturating_duration_since(std::time::Instant::now())))
            .sum()
    }

    fn last_failure(&self) -> Option<String> {
        self.last_fatal.lock().clone()
    }

    /// A broker that lost its state (an in-memory one always does) no longer knows the old
    /// producer id, and librdkafka would retry against it until every send times out: the
    /// idempotent producer starts a new session.
    fn renew_after_outage(&self) -> BoxFuture<'_, ()> {
        async move {
            tracing::info!("broker back after an outage: renewing the idempotent producer's session");
            self.replace(ProducerMode::Idempotent).await;
        }
        .boxed()
    }
}
