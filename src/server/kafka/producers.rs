//! One rdkafka producer of one mode, and the path that turns librdkafka's delivery reports into
//! [`DeliveryReports`]. Two live per process (plain and idempotent), held by [`super::ProducerPair`].

use super::port::{OutgoingRecord, TopicCatalog};
use super::reports::{DeliveryFailure, DeliveryReport, DeliveryReports, DeliveryTicket};
use super::settings::KafkaSettings;
use crate::error::AppError;
use crate::model::ProducerMode;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer};
use rdkafka::{ClientContext, Message, Statistics};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Where a producer's reports and signals go.
#[derive(Clone)]
pub struct ReportSinks {
    pub reports: Arc<DeliveryReports>,
    pub topics: Arc<dyn TopicCatalog>,
    /// A producer that may have failed for good: the pair checks it and replaces it.
    pub fatal: mpsc::UnboundedSender<ProducerMode>,
}

/// Routes delivery reports, logs client errors, signals fatal ones, forgets lost topics.
pub struct ReportingContext {
    mode: ProducerMode,
    sinks: ReportSinks,
}

impl ClientContext for ReportingContext {
    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Fatal) => {
                tracing::error!(mode = %self.mode, %error, reason, "fatal producer error");
                let _ = self.sinks.fatal.send(self.mode);
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
    }
}

impl ProducerContext for ReportingContext {
    type DeliveryOpaque = Box<DeliveryTicket>;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: Self::DeliveryOpaque) {
        let (topic, report): (&str, DeliveryReport) = match result {
            Ok(msg) => (msg.topic(), Ok((msg.partition(), msg.offset()))),
            Err((error, msg)) => {
                match error.rdkafka_error_code() {
                    // After a fatal error librdkafka fails what it queued: have the producer checked.
                    Some(RDKafkaErrorCode::Fatal | RDKafkaErrorCode::PurgeQueue) => {
                        let _ = self.sinks.fatal.send(self.mode);
                    }
                    // The broker lost the topic (e.g. it restarted empty): create it again next time.
                    Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
                        self.sinks.topics.forget(Some(msg.topic()));
                    }
                    _ => {}
                }
                (msg.topic(), Err(failure(error)))
            }
        };
        self.sinks.reports.deliver(self.mode, *ticket, topic, report);
    }
}

/// A Kafka error as a delivery failure.
pub fn failure(error: &KafkaError) -> DeliveryFailure {
    DeliveryFailure { message: describe_kafka_error(error), timed_out: is_timeout(error) }
}

/// A producer of one mode. Cheap to share: every request uses the same instance.
pub struct KafkaProducer {
    mode: ProducerMode,
    inner: ThreadedProducer<ReportingContext>,
    sinks: ReportSinks,
    max_block: Duration,
}

/// Longest pause between two attempts to find room in a full local queue.
const MAX_ROOM_PAUSE: Duration = Duration::from_millis(16);

impl KafkaProducer {
    pub fn new(settings: &KafkaSettings, mode: ProducerMode, sinks: ReportSinks) -> Result<Self, KafkaError> {
        let context = ReportingContext { mode, sinks: sinks.clone() };
        let inner = settings.producer_config(mode).create_with_context(context)?;
        Ok(Self { mode, inner, sinks, max_block: Duration::from_millis(settings.max_block_ms.into()) })
    }

    pub fn mode(&self) -> ProducerMode {
        self.mode
    }

    /// Hands a record to librdkafka; the outcome comes through the ticket. When librdkafka's
    /// local queue is full, waits for room up to `max_block` (librdkafka has no signal for it:
    /// short, growing pauses), so a burst slows its callers down instead of failing them.
    pub async fn send(&self, out: OutgoingRecord<'_>, ticket: Box<DeliveryTicket>) -> Result<(), AppError> {
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
        let deadline = Instant::now() + self.max_block;
        let mut pause = Duration::from_millis(1);
        loop {
            let error = match self.inner.send(record) {
                Ok(()) => return Ok(()),
                Err((error, returned)) => {
                    let queue_full = error.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull);
                    let now = Instant::now();
                    if queue_full && now < deadline {
                        record = returned;
                        tokio::time::sleep(pause.min(deadline - now)).await;
                        pause = (pause * 2).min(MAX_ROOM_PAUSE);
                        continue;
                    }
                    error
                }
            };
            match error.rdkafka_error_code() {
                Some(RDKafkaErrorCode::Fatal) => {
                    let _ = self.sinks.fatal.send(self.mode);
                }
                Some(RDKafkaErrorCode::UnknownTopic) => self.sinks.topics.forget(Some(out.topic)),
                _ => {}
            }
            return Err(enqueue_error(out.topic, out.partition, error));
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
    /// whatever it still holds. Blocking.
    pub fn retire(&self, flush: Duration) {
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
