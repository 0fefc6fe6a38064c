//! One rdkafka producer of one mode: records handed to librdkafka (waiting for room in its queue),
//! retired and flushed. Two live per process (plain and idempotent), held by
//! [`super::ProducerPair`]; their callbacks are [`super::reporting`]'s.

use super::health::ProducerHealth;
use super::port::OutgoingRecord;
use super::reporting::{ReportSinks, ReportingContext, Trouble};
use super::reports::DeliveryTicket;
use super::settings::KafkaSettings;
use super::thread_nice::with_nice;
use crate::error::AppError;
use crate::model::ProducerMode;
use crate::server::room_wait::RoomWait;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, PurgeConfig, ThreadedProducer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
        let context = ReportingContext::new(mode, id, sinks.clone(), health.clone());
        let config = settings.producer_config(mode);
        let inner = with_nice(settings.producer_nice, || config.create_with_context(context))
            .map_err(|error| KafkaError::ClientCreation(error.to_string()))??;
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
        raise_fatal_error(self.inner.client());
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

/// Raises a fatal error in an idempotent client, as librdkafka does when the broker answers
/// out of sequence (tests of the recovery paths only: feature `test-hooks`).
#[cfg(feature = "test-hooks")]
pub fn raise_fatal_error<C: rdkafka::ClientContext>(client: &rdkafka::client::Client<C>) {
    let reason = c"injected by a test";
    // SAFETY: the client pointer is valid while `client` is borrowed; the reason is a
    // NUL-terminated string librdkafka copies.
    unsafe {
        rdkafka::bindings::rd_kafka_test_fatal_error(
            client.native_ptr(),
            rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
            reason.as_ptr(),
        );
    }
}
