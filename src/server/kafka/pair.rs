//! One plain and one idempotent producer, shared by every request of the process, and their
//! recovery: a producer that hits a fatal error (e.g. OUT_OF_ORDER_SEQUENCE on an idempotent
//! producer) or that makes no progress (a broker that lost its state) is replaced at once; what
//! it still held is answered with ERROR naming the cause, never left PENDING. A record whose
//! topic vanished is sent once more after the topic is created again.

use super::port::{OutgoingRecord, RecordProducer, TopicCatalog};
use super::producers::KafkaProducer;
use super::reporting::{ReportSinks, Resend, Trouble};
use super::reports::{DeliveryFailure, DeliveryReports, DeliveryTicket};
use super::settings::KafkaSettings;
use crate::error::AppError;
use crate::model::ProducerMode;
use crate::server::shutdown::Shutdown;
use arc_swap::ArcSwap;
use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use rdkafka::error::KafkaError;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a replaced producer may take to report what it had already sent.
const RETIRE_FLUSH: Duration = Duration::from_secs(5);

pub struct ProducerPair {
    settings: KafkaSettings,
    sinks: ReportSinks,
    plain: ArcSwap<KafkaProducer>,
    idempotent: ArcSwap<KafkaProducer>,
    last_fatal: Mutex<Option<String>>,
    /// Replaced producers still reporting what they had sent (a shutdown waits for them too).
    retiring: Arc<Mutex<Vec<Arc<KafkaProducer>>>>,
}

/// Why a producer is renewed, as `/metrics` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Fatal,
    Stalled,
    /// The broker came back after an outage: it may have lost its state.
    Outage,
    BrokerStateLost,
}

impl Renewal {
    pub fn as_str(self) -> &'static str {
        match self {
            Renewal::Fatal => "fatal_error",
            Renewal::Stalled => "no_progress",
            Renewal::Outage => "broker_outage",
            Renewal::BrokerStateLost => "broker_state_lost",
        }
    }
}

impl ProducerPair {
    pub fn new(
        settings: &KafkaSettings,
        reports: Arc<DeliveryReports>,
        topics: Arc<dyn TopicCatalog>,
    ) -> Result<Self, KafkaError> {
        let sinks = ReportSinks { reports, topics, trouble: Arc::new(OnceLock::new()) };
        Ok(Self {
            plain: ArcSwap::from_pointee(KafkaProducer::new(settings, ProducerMode::Plain, sinks.clone())?),
            idempotent: ArcSwap::from_pointee(KafkaProducer::new(settings, ProducerMode::Idempotent, sinks.clone())?),
            settings: settings.clone(),
            sinks,
            last_fatal: Mutex::new(None),
            retiring: Arc::new(Mutex::new(Vec::new())),
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

    /// Recovers the producers until shutdown: replaces a failed or stuck one, sends again the
    /// records whose topic vanished. Call once (the lab's pairs never do: their producers show
    /// what librdkafka alone does).
    pub fn recover(self: &Arc<Self>, shutdown: &Shutdown) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        if self.sinks.trouble.set(tx).is_err() {
            return;
        }
        let pair = self.clone();
        let stop = shutdown.token();
        shutdown.spawn(async move {
            loop {
                let trouble = tokio::select! {
                    _ = stop.cancelled() => return,
                    t = rx.recv() => match t { Some(t) => t, None => return },
                };
                match trouble {
                    Trouble::Fatal(mode) => pair.replace_if_fatal(mode).await,
                    Trouble::Stalled { mode, producer, cause } => {
                        if pair.get(mode).id() == producer {
                            pair.renew(mode, Renewal::Stalled, &cause).await;
                        }
                    }
                    // Its own task: creating a topic takes a round trip or more.
                    Trouble::Resend(resend) => {
                        let pair = pair.clone();
                        tokio::spawn(async move { pair.resend(*resend).await });
                    }
                }
            }
        });
    }

    async fn replace_if_fatal(&self, mode: ProducerMode) {
        // librdkafka may report one fatal error more than once: replace only a failed producer.
        let Some(cause) = self.get(mode).fatal_error() else { return };
        self.renew(mode, Renewal::Fatal, &format!("fatal error {cause}")).await;
    }

    /// Replaces the producer of `mode`, logged, counted and kept for readiness and the UI.
    pub async fn renew(&self, mode: ProducerMode, why: Renewal, cause: &str) {
        tracing::error!(%mode, cause, "renewing the producer; its unsent records end in ERROR");
        self.sinks.reports.metrics().renewed(mode, why.as_str());
        let at = crate::server::send::now_rfc3339().unwrap_or_default();
        // A stuck producer, or one whose id the broker forgot, delivers nothing more: its records
        // fail at once (still retrying, it would also fence its replacement on a broker that
        // hands the same id out again). Otherwise what it sent gets a chance to be reported.
        let flush = match why {
            Renewal::Stalled | Renewal::BrokerStateLost => Duration::ZERO,
            Renewal::Fatal | Renewal::Outage => RETIRE_FLUSH,
        };
        *self.last_fatal.lock() = Some(if self.replace(mode, flush, Some(cause.to_owned())).await {
            format!("{mode} producer renewed at {at}: {cause}")
        } else {
            format!("{mode} producer: {cause}; its replacement failed")
        });
    }

    /// Swaps in a new producer, then lets the old one report what it had sent and fail (with a
    /// delivery report each) what it still held, in the background: the recovery loop must not
    /// wait for that (up to [`RETIRE_FLUSH`]) while its replacement may need renewing already
    /// (found in CI: on a broker restarted empty, a replacement fenced for 5 s, every idempotent
    /// send refused). False if the new producer could not be made.
    async fn replace(&self, mode: ProducerMode, flush: Duration, cause: Option<String>) -> bool {
        let replacement = match KafkaProducer::new(&self.settings, mode, self.sinks.clone()) {
            Ok(p) => p,
            Err(error) => {
                tracing::error!(%mode, %error, "cannot create a replacement producer");
                return false;
            }
        };
        let retired = self.slot(mode).swap(Arc::new(replacement));
        self.retiring.lock().push(retired.clone());
        let retiring = self.retiring.clone();
        tokio::task::spawn_blocking(move || {
            retired.retire(flush, cause);
            retiring.lock().retain(|p| !Arc::ptr_eq(p, &retired));
        });
        true
    }

    /// The current producers and those still retiring.
    fn every_producer(&self) -> Vec<Arc<KafkaProducer>> {
        let mut all: Vec<_> = ProducerMode::ALL.iter().map(|m| self.get(*m)).collect();
        all.extend(self.retiring.lock().iter().cloned());
        all
    }

    /// Sends a record again after its topic vanished: the topic is created again first (or the
    /// record fails, naming the topic, when it cannot be).
    async fn resend(&self, r: Resend) {
        let Resend { mode, topic, key, value, headers, mut ticket, failure } = r;
        let fail = |ticket: Box<DeliveryTicket>, failure: DeliveryFailure| {
            self.sinks.reports.deliver(mode, *ticket, &topic, Err(failure));
        };
        if let Err(error) = self.sinks.topics.partitions(&topic).await {
            return fail(ticket, DeliveryFailure { message: error.to_string(), timed_out: false });
        }
        tracing::info!(%mode, topic, request_id = %ticket.request_id, "topic was gone: created again, record sent once more");
        ticket.resent = true;
        let partition = ticket.partition;
        let key = String::from_utf8_lossy(&key);
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
        let record = OutgoingRecord { topic: &topic, key: &key, value: &value, partition, headers: &headers };
        if let Err((error, ticket)) = self.get(mode).hand_over(record, ticket).await {
            let message = format!("{}; sending it again failed: {error}", failure.message);
            fail(ticket, DeliveryFailure { message, timed_out: false });
        }
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
        self.every_producer().iter().map(|p| p.in_flight()).sum()
    }

    fn flush(&self, timeout: Duration) -> i32 {
        let deadline = std::time::Instant::now() + timeout;
        self.every_producer()
            .iter()
            .map(|p| p.flush(deadline.saturating_duration_since(std::time::Instant::now())))
            .sum()
    }

    fn last_failure(&self) -> Option<String> {
        self.last_fatal.lock().clone()
    }

    /// A broker that lost its state (an in-memory one always does) no longer knows the old
    /// producer id, and librdkafka would retry against it until every send times out: the
    /// idempotent producer starts a new session.
    fn renew_after_outage(&self, cause: &str, state_lost: bool) -> BoxFuture<'_, ()> {
        let cause = cause.to_owned();
        let why = if state_lost { Renewal::BrokerStateLost } else { Renewal::Outage };
        async move { self.renew(ProducerMode::Idempotent, why, &cause).await }.boxed()
    }
}
