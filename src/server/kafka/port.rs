//! The seam under the send core: what it needs from Kafka, as two small traits. Production uses
//! the rdkafka producers ([`super::ProducerPair`]) and the admin client ([`super::TopicRegistry`]);
//! router and contract tests that make no claim about Kafka use [`super::InMemoryKafka`]. Every
//! claim about the records themselves is tested on a real broker.

use super::reports::DeliveryTicket;
use crate::error::AppError;
use crate::model::ProducerMode;
use futures::future::BoxFuture;
use std::time::Duration;

/// A record as the send core hands it to a producer.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRecord<'a> {
    pub topic: &'a str,
    pub key: &'a str,
    pub value: &'a [u8],
    pub partition: Option<i32>,
    /// Record headers, in order (name, value).
    pub headers: &'a [(&'a str, &'a [u8])],
}

/// Hands records to the producer of a mode. Each record's outcome comes back through
/// [`super::DeliveryReports`], with its ticket.
pub trait RecordProducer: Send + Sync + 'static {
    /// Hands the record over; an error means it was refused before it was sent (full queue,
    /// unknown partition, a producer that failed).
    fn send<'a>(
        &'a self,
        mode: ProducerMode,
        record: OutgoingRecord<'a>,
        ticket: Box<DeliveryTicket>,
    ) -> BoxFuture<'a, Result<(), AppError>>;

    /// Records handed over and not yet reported.
    fn in_flight(&self) -> i32;

    /// Waits up to `timeout` for every report; returns how many records remain. Blocking.
    fn flush(&self, timeout: Duration) -> i32;

    /// The last producer failure and what was done about it, for readiness and the UI.
    fn last_failure(&self) -> Option<String>;

    /// The broker came back after an outage (it may have lost its state), or is known to have
    /// lost it (`state_lost`): start afresh where a producer's session depends on it.
    fn renew_after_outage(&self, cause: &str, state_lost: bool) -> BoxFuture<'_, ()>;
}

/// What the send core and the UI need to know of topics.
pub trait TopicCatalog: Send + Sync + 'static {
    /// The topic's partition count, creating the topic first if it does not exist.
    fn partitions<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<i32, AppError>>;

    /// Forgets what is cached about one topic, or all: the broker lost them.
    fn forget(&self, topic: Option<&str>);

    /// User topics, sorted.
    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, AppError>>;

    /// Whether the cluster answers (with every topic's name), and if not, why (bounded).
    fn probe(&self) -> BoxFuture<'_, Result<Vec<String>, AppError>>;

    /// Forgets the known topics missing from `listed` (a probe's answer); which they were.
    fn vanished(&self, listed: &[String]) -> Vanished;
}

/// Known topics a probe no longer found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Vanished {
    pub topics: Vec<String>,
    /// Every topic the service knew is gone: the broker lost its state (restarted empty).
    pub all: bool,
}
