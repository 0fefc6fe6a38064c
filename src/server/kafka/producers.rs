//! One rdkafka producer of one mode, and the path that turns librdkafka's delivery reports into
//! [`DeliveryReports`]. Two live per process (plain and idempotent), held by [`super::ProducerPair`].
//! Its callbacks also raise [`Trouble`]: a fatal error, an idempotent producer that no longer
//! makes progress ([`super::health`]), a record whose topic vanished (sent once more).

use super::health::{ProducerHealth, Sample};
use super::port::{OutgoingRecord, TopicCatalog};
use super::reports::{DeliveryFailure, DeliveryReport, DeliveryReports, DeliveryTicket};
use super::settings::KafkaSettings;
use crate::error::AppError;
use crate::model::ProducerMode;
use crate::server::room_wait::RoomWait;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer};
use rdkafka::{ClientContext, Message, Statistics};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What a producer's callbacks ask of the pair that holds it.
pub enum Trouble {
    /// librdkafka raised a fatal error, or failed records after one: check it, replace it.
    Fatal(ProducerMode),
    /// This producer (by id) makes no progress: renew it, naming the cause.
    Stalled { mode: ProducerMode, producer: u64, cause: String },
    /// A record failed because its topic is gone: create the topic again, send it once more.
    Resend(Box<Resend>),
}

/// A record to send again, with its ticket.
pub struct Resend {
    pub mode: ProducerMode,
    pub topic: String,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub ticket: Box<DeliveryTicket>,
    /// Why the first attempt failed, for the status if the second cannot be made.
    pub failure: DeliveryFailure,
}

/// Where a producer's reports and signals go.
#[derive(Clone)]
pub struct ReportSinks {
    pub reports: Arc<DeliveryReports>,
    pub topics: Arc<dyn TopicCatalog>,
    /// Set once someone recovers the producers (the service's pair; never the lab's, whose
    /// producers show what librdkafka alone does).
    pub trouble: Arc<OnceLock<mpsc::UnboundedSender<Trouble>>>,
}

impl ReportSinks {
    /// True if the trouble was passed on to someone who recovers the producers.
    fn raise(&self, trouble: Trouble) -> Result<(), Trouble> {
        match self.trouble.get() {
            Some(tx) => tx.send(trouble).map_err(|e| e.0),
            None => Err(trouble),
        }
    }
}

/// Routes delivery reports, logs client errors, signals fatal ones, forgets lost topics.
pub struct ReportingContext {
    mode: ProducerMode,
    producer: u64,
    sinks: ReportSinks,
    health: Arc<ProducerHealth>,
}

impl ClientContext for ReportingContext {
    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Fatal) => {
                tracing::error!(mode = %self.mode, %error, reason, "fatal producer error");
                let _ = self.sinks.raise(Trouble::Fatal(self.mode));
            }
            // The broker being away is reported by readiness; per-attempt errors are noise.
            Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown) => {
                tracing::debug!(mode = %self.mode, %error, reason, "kafka connection error");
            }
            _ => tracing::warn!(mode = %self.mode, %error, reason, "kafka client error"),
        }
    }

    fn stats(&self, statistics: Statistics) {
        self.sinks.reports.metrics().record_stats(self.mode, &statistics);
        // The watch is for an idempotent producer's id; a plain one has none (and reports every
        // 5 s, so a slow broker would read as a stall).
        if self.mode != ProducerMode::Idempotent {
            return;
        }
        let Some(eos) = &statistics.eos else { return };
        let sample = Sample {
            at: Instant::now(),
            delivered: 0,
            holding: statistics.msg_cnt as i64,
            broker_up: statistics.brokers.values().any(|b| b.nodeid >= 0 && b.state == "UP"),
            idemp_state: eos.idemp_state.clone(),
            epoch_cnt: eos.epoch_cnt,
        };
        if let Some(cause) = self.health.observe(sample) {
            tracing::error!(mode = %self.mode, %cause, "the idempotent producer makes no progress");
            let _ = self.sinks.raise(Trouble::Stalled { mode: self.mode, producer: self.producer, cause });
        }
    }

    /// librdkafka's lines go to `tracing` at their level; the idempotent producer's EOS debug
    /// lines also tell [`ProducerHealth`] which partition the broker refused and why.
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", "librdkafka: {facility} {message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "librdkafka: {facility} {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "librdkafka: {facility} {message}")
            }
            RDKafkaLogLevel::Debug => {
                self.health.log(facility, message);
                tracing::debug!(target: "librdkafka", "librdkafka: {facility} {message}")
            }
        }
    }
}

impl ProducerContext for ReportingContext {
    type DeliveryOpaque = Box<DeliveryTicket>;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: Self::DeliveryOpaque) {
        self.health.delivered();
        let (topic, report): (&str, DeliveryReport) = match result {
            Ok(msg) => (msg.topic(), Ok((msg.partition(), msg.offset()))),
            Err((error, msg)) => {
                let failure = self.explain(error);
                match error.rdkafka_error_code() {
                    // After a fatal error librdkafka fails what it queued: have the producer checked.
                    Some(RDKafkaErrorCode::Fatal | RDKafkaErrorCode::PurgeQueue) => {
                        let _ = self.sinks.raise(Trouble::Fatal(self.mode));
                    }
                    // The broker no longer honours this producer's id (it lost its state, or
                    // handed the id to another client): librdkafka cannot recover, renew it.
                    Some(
                        code @ (RDKafkaErrorCode::ProducerFenced
                        | RDKafkaErrorCode::InvalidProducerEpoch
                        | RDKafkaErrorCode::UnknownProducerId),
                    ) if self.mode == ProducerMode::Idempotent => {
                        let cause = format!("{code:?} on {} [{}]", msg.topic(), msg.partition());
                        let trouble = Trouble::Stalled { mode: self.mode, producer: self.producer, cause };
                        let _ = self.sinks.raise(trouble);
                    }
                    // Timed out while the broker kept refusing this producer's id or sequence
                    // (it restarted empty after the id was issued): librdkafka retries such a
                    // record until it times out, and every record after it; renew the producer.
                    Some(RDKafkaErrorCode::MessageTimedOut) if self.mode == ProducerMode::Idempotent => {
                        if let Some(cause) = self.health.refusal() {
                            let _ =
                                self.sinks.raise(Trouble::Stalled { mode: self.mode, producer: self.producer, cause });
                        }
                    }
                    // The broker lost the topic (deleted, or the broker restarted empty): the
                    // topic is created again and the record sent once more.
                    Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
                        self.sinks.topics.forget(Some(msg.topic()));
                        if !ticket.resent {
                            let resend = resend_of(self.mode, msg, ticket, failure);
                            match self.sinks.raise(Trouble::Resend(Box::new(resend))) {
                                Ok(()) => return,
                                Err(Trouble::Resend(r)) => {
                                    self.sinks.reports.deliver(self.mode, *r.ticket, &r.topic, Err(r.failure));
                                }
                                Err(_) => {}
                            }
                            return;
                        }
                    }
                    _ => {}
                }
                (msg.topic(), Err(failure))
            }
        };
        self.sinks.reports.deliver(self.mode, *ticket, topic, report);
    }
}

impl ReportingContext {
    /// The failure as the caller should read it: a record purged by a renewal says why the
    /// producer was renewed; a timeout names what the broker last refused, when it did.
    fn explain(&self, error: &KafkaError) -> DeliveryFailure {
        let mut failure = failure(error);
        match error.rdkafka_error_code() {
            Some(code @ (RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)) => {
                if let Some(cause) = self.health.retired_because() {
                    let fate = if code == RDKafkaErrorCode::PurgeQueue {
                        "this record was never sent"
                    } else {
                        "this record may or may not have been written"
                    };
                    failure.message = format!("The {} producer was renewed ({cause}); {fate}", self.mode);
                }
            }
            _ if failure.timed_out => {
                if let Some(refusal) = self.health.refusal() {
                    failure.message = format!("{} (the broker kept refusing: {refusal})", failure.message);
                }
            }
            _ => {}
        }
        failure
    }
}

/// An owned copy of a failed record, to send it again with its ticket.
fn resend_of(
    mode: ProducerMode,
    msg: &BorrowedMessage<'_>,
    ticket: Box<DeliveryTicket>,
    failure: DeliveryFailure,
) -> Resend {
    let headers = msg
        .headers()
        .map(|h| h.iter().map(|x| (x.key.to_owned(), x.value.unwrap_or_default().to_vec())).collect())
        .unwrap_or_default();
    Resend {
        mode,
        topic: msg.topic().to_owned(),
        key: msg.key().unwrap_or_default().to_vec(),
        value: msg.payload().unwrap_or_default().to_vec(),
        headers,
        ticket,
        failure,
    }
}

/// A Kafka error as a delivery failure.
pub fn failure(error: &KafkaError) -> DeliveryFailure {
    DeliveryFailure { message: describe_kafka_error(error), timed_out: is_timeout(error) }
}

/// A producer of one mode. Cheap to share: every request uses the same instance.
pub struct KafkaProducer {
    mode: ProducerMode,
    /// Tells this producer from its replacements.
    id: u64,
    inner: ThreadedProducer<ReportingContext>,
    sinks: ReportSinks,
    health: Arc<ProducerHealth>,
    max_block: Duration,
}

static PRODUCER_IDS: AtomicU64 = AtomicU64::new(1);

impl KafkaProducer {
    pub fn new(settings: &KafkaSettings, mode: ProducerMode, sinks: ReportSinks) -> Result<Self, KafkaError> {
        let id = PRODUCER_IDS.fetch_add(1, Ordering::Relaxed);
        let health = Arc::new(ProducerHealth::default());
        let context = ReportingContext { mode, producer: id, sinks: sinks.clone(), health: health.clone() };
        let inner = settings.producer_config(mode).create_with_context(context)?;
        Ok(Self { mode, id, inner, sinks, health, max_block: Duration::from_millis(settings.max_block_ms.into()) })
    }

    pub fn mode(&self) -> ProducerMode {
        self.mode
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Hands a record to librdkafka; the outcome comes through the ticket. When librdkafka's
    /// local queue is full, waits for room up to `max_block` (librdkafka has no signal for it:
    /// short, growing pauses), so a burst slows its callers down instead of failing them. When
    /// librdkafka already knows the topic is gone, the topic is created again and the record
    /// handed over once more.
    pub async fn send(&self, out: OutgoingRecord<'_>, ticket: Box<DeliveryTicket>) -> Result<(), AppError> {
        self.hand_over(out, ticket).await.map_err(|(error, _)| error)
    }

    /// As [`KafkaProducer::send`], giving the ticket back when the record was refused.
    pub async fn hand_over(
        &self,
        out: OutgoingRecord<'_>,
        ticket: Box<DeliveryTicket>,
    ) -> Result<(), (AppError, Box<DeliveryTicket>)> {
        let mut record = BaseRecord::with_opaque_to(out.topic, ticket).key(out.key).payload(out.value);
        if let Some(p) = out.partition {
            record = record.partition(p);
        }
        if !out.headers.is_empty() {
            let headers =
                out.headers.iter().fold(OwnedHeaders::new_with_capacity(out.headers.len()), |h, (key, value)| {
                    h.insert(Header { key, value: Some(*value) })
                });
            record = record.headers(headers);
        }
        let mut room = RoomWait::new(self.max_block);
        let mut topic_created = false;
        loop {
            let error = match self.inner.send(record) {
                Ok(()) => return Ok(()),
                Err((error, returned)) => {
                    let code = error.rdkafka_error_code();
                    if code == Some(RDKafkaErrorCode::QueueFull) && !room.passed() {
                        record = returned;
                        room.pause().await;
                        continue;
                    }
                    if code == Some(RDKafkaErrorCode::UnknownTopic) && !topic_created {
                        self.sinks.topics.forget(Some(out.topic));
                        if let Err(refused) = self.sinks.topics.partitions(out.topic).await {
                            return Err((refused, returned.delivery_opaque));
                        }
                        topic_created = true;
                        record = returned;
                        continue;
                    }
                    (error, returned.delivery_opaque)
                }
            };
            if error.0.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
                let _ = self.sinks.raise(Trouble::Fatal(self.mode));
            }
            return Err((enqueue_error(out.topic, out.partition, error.0), error.1));
        }
    }

    /// Records handed to librdkafka and not yet reported.
    pub fn in_flight(&self) -> i32 {
        self.inner.in_flight_count()
    }

    /// The fatal error that ended this producer, if any.
    pub fn fatal_error(&self) -> Option<String> {
        self.inner.client().fatal_error().map(|(code, reason)| format!("{code:?}: {reason}"))
    }

    /// Lets a replaced producer report what it sent, then fails (with a delivery report each)
    /// whatever it still holds, naming `cause` when there is one. Blocking.
    pub fn retire(&self, flush: Duration, cause: Option<String>) {
        if let Some(cause) = cause {
            self.health.retire_because(cause);
        }
        let _ = self.inner.flush(flush);
        self.inner.purge(PurgeConfig::default().queue().inflight());
        let _ = self.inner.flush(Duration::from_secs(1));
    }

    /// Raises a fatal error, as librdkafka would on a broker's fatal answer: only for the tests
    /// of the recovery path (feature `test-hooks`, never in a release build).
    #[cfg(feature = "test-hooks")]
    pub(super) fn inject_fatal_error(&self) {
        let reason = c"injected by a test";
        // SAFETY: the client pointer is valid for as long as `self.inner` lives; the reason is a
        // NUL-terminated string librdkafka copies.
        unsafe {
            rdkafka::bindings::rd_kafka_test_fatal_error(
                self.inner.client().native_ptr(),
                rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                reason.as_ptr(),
            );
        }
    }

    /// Waits up to `timeout` for every queued record's delivery report; returns how many remain.
    pub fn flush(&self, timeout: Duration) -> i32 {
        if let Err(error) = self.inner.flush(timeout) {
            tracing::warn!(mode = %self.mode, %error, "flush did not complete");
        }
        self.in_flight()
    }
}

/// Why librdkafka refused a record before sending it, as the caller should see it.
fn enqueue_error(topic: &str, partition: Option<i32>, error: KafkaError) -> AppError {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::QueueFull) => AppError::Overloaded {
            message: "The producer's local queue is full; retry shortly".into(),
            retry_after_secs: 1,
        },
        Some(RDKafkaErrorCode::UnknownPartition) => AppError::Invalid {
            field: Some(crate::model::Field::Partition),
            message: format!("Partition {} does not exist in topic '{topic}'", partition.unwrap_or(-1)),
        },
        Some(RDKafkaErrorCode::Fatal) => AppError::Unavailable {
            message: "The producer hit a fatal error and is being replaced; retry shortly".into(),
        },
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => AppError::Rejected {
            status: 413,
            message: format!("The record is larger than the producer's message.max.bytes: {error}"),
        },
        _ => AppError::broker(format!("Kafka refused the record: {}", describe_kafka_error(&error))),
    }
}

/// A Kafka error in words, for statuses and problem details.
pub fn describe_kafka_error(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => format!("{code:?}: {code}"),
        None => error.to_string(),
    }
}

/// True when the broker did not answer within the delivery timeout.
pub fn is_timeout(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::RequestTimedOut | RDKafkaErrorCode::OperationTimedOut
        )
    )
}
