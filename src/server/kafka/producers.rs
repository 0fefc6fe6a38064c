//! The two long-lived producers (plain and idempotent), one of each per process, and the
//! delivery path that turns librdkafka's reports into statuses.

use super::settings::KafkaSettings;
use super::topics::TopicRegistry;
use crate::error::AppError;
use crate::model::{ProducerMode, SendMode};
use crate::server::metrics::{Outcome, SendMetrics};
use crate::server::status_store::{Delivered, StatusStore};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer};
use rdkafka::{ClientContext, Message, Statistics};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// What a delivery report answers to a caller that waits for it.
pub type DeliveryReport = Result<(i32, i64), KafkaError>;

/// Travels with each record through librdkafka and comes back in its delivery report.
pub struct DeliveryTicket {
    pub request_id: Uuid,
    pub send_mode: SendMode,
    pub accepted: Instant,
    /// Set for a synchronous send: the caller awaiting the broker's acknowledgement.
    pub waiter: Option<oneshot::Sender<DeliveryReport>>,
}

/// Where a producer's reports go: statuses, the topic cache, and the fatal-error watch.
#[derive(Clone)]
pub struct ReportSinks {
    pub store: Arc<StatusStore>,
    pub topics: Arc<TopicRegistry>,
    pub metrics: Arc<SendMetrics>,
    pub fatal: mpsc::UnboundedSender<ProducerMode>,
}

/// Routes delivery reports to the status store (and to a waiting caller), logs client errors,
/// signals fatal ones so the producer gets replaced, and forgets topics the broker lost.
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
        self.sinks.metrics.record_stats(self.mode, &statistics);
    }
}

impl ProducerContext for ReportingContext {
    type DeliveryOpaque = Box<DeliveryTicket>;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: Self::DeliveryOpaque) {
        let report: DeliveryReport = match result {
            Ok(msg) => Ok((msg.partition(), msg.offset())),
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
                Err(error.clone())
            }
        };
        let latency = ticket.accepted.elapsed();
        let metrics = &self.sinks.metrics;
        metrics.observe_latency(self.mode, ticket.send_mode, latency);
        let outcome = match &report {
            Ok((partition, offset)) => {
                metrics.record(self.mode, ticket.send_mode, Outcome::Ok);
                tracing::debug!(request_id = %ticket.request_id, mode = %self.mode, send_mode = %ticket.send_mode,
                    topic = result.as_ref().map(|m| m.topic()).unwrap_or_default(), partition, offset,
                    latency_ms = latency.as_secs_f64() * 1000.0, "delivered");
                Delivered::Ok { partition: *partition, offset: *offset }
            }
            Err(error) => {
                metrics.record(self.mode, ticket.send_mode, Outcome::Error);
                tracing::debug!(request_id = %ticket.request_id, mode = %self.mode, send_mode = %ticket.send_mode,
                    %error, latency_ms = latency.as_secs_f64() * 1000.0, "delivery failed");
                Delivered::Failed(describe_kafka_error(error))
            }
        };
        if !self.sinks.store.complete(&ticket.request_id, outcome, latency) {
            tracing::debug!(request_id = %ticket.request_id, "delivery report for an evicted status");
        }
        if let Some(waiter) = ticket.waiter {
            let _ = waiter.send(report);
        }
    }
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
    pub async fn send(
        &self,
        topic: &str,
        key: &str,
        value: &[u8],
        partition: Option<i32>,
        ticket: Box<DeliveryTicket>,
    ) -> Result<(), AppError> {
        let mut record = BaseRecord::with_opaque_to(topic, ticket).key(key).payload(value);
        if let Some(p) = partition {
            record = record.partition(p);
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
                Some(RDKafkaErrorCode::UnknownTopic) => self.sinks.topics.forget(Some(topic)),
                _ => {}
            }
            return Err(enqueue_error(topic, partition, error));
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
