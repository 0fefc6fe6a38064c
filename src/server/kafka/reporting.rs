//! The callbacks of the service's rdkafka producers ([`ReportingContext`]): delivery reports
//! turned into [`DeliveryReports`], client errors logged, and [`Trouble`] raised to the pair that
//! holds the producers: a fatal error, an idempotent producer that no longer makes progress
//! ([`super::health`]), a record whose topic vanished (sent once more).

use super::health::{ProducerHealth, Sample};
use super::port::TopicCatalog;
use super::producers::{describe_kafka_error, is_timeout};
use super::reports::{DeliveryFailure, DeliveryReport, DeliveryReports, DeliveryTicket};
use crate::model::ProducerMode;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::{ClientContext, Message, Statistics};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
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
    pub(super) fn raise(&self, trouble: Trouble) -> Result<(), Trouble> {
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
    /// The callbacks of producer `producer` (its id) of `mode`.
    pub(super) fn new(mode: ProducerMode, producer: u64, sinks: ReportSinks, health: Arc<ProducerHealth>) -> Self {
        Self { mode, producer, sinks, health }
    }

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
