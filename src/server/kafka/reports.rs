//! Where delivery reports go, whichever producer made them: the status table, the send metrics,
//! and the caller waiting for a synchronous send.

use crate::model::{ProducerMode, SendMode};
use crate::server::metrics::{Outcome, SendMetrics};
use crate::server::status_store::Delivered;
use crate::server::status_table::{Sharing, StateAck, StatusTable};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;
use uuid::Uuid;

/// Why a record was not delivered, as the caller should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// The Kafka error in words (`MessageTimedOut: ...`).
    pub message: String,
    /// No answer from the broker within the delivery timeout (504 rather than 502).
    pub timed_out: bool,
}

/// What a delivery report answers: partition and offset, or why not.
pub type DeliveryReport = Result<(i32, i64), DeliveryFailure>;

/// Travels with each record through the producer and comes back with its delivery report.
pub struct DeliveryTicket {
    pub request_id: Uuid,
    pub send_mode: SendMode,
    pub accepted: Instant,
    /// Set for a synchronous send: the caller awaiting the broker's acknowledgement, and the
    /// status table's acknowledgement of the outcome.
    pub waiter: Option<oneshot::Sender<(DeliveryReport, StateAck)>>,
    /// The partition the caller chose, if any (kept when the record is sent again).
    pub partition: Option<i32>,
    /// Sent a second time already (its topic had vanished): a second failure is final.
    pub resent: bool,
    /// The waiter carries the outcome to the other replicas (in its idempotency key's answer):
    /// the table only records it here, unless the waiter is gone.
    pub carried: bool,
}

pub struct DeliveryReports {
    table: Arc<dyn StatusTable>,
    metrics: Arc<SendMetrics>,
}

impl DeliveryReports {
    pub fn new(table: Arc<dyn StatusTable>, metrics: Arc<SendMetrics>) -> Self {
        Self { table, metrics }
    }

    pub fn table(&self) -> &Arc<dyn StatusTable> {
        &self.table
    }

    pub fn metrics(&self) -> &Arc<SendMetrics> {
        &self.metrics
    }

    /// Applies one report: the latency histogram, the outcome counter, the status, the waiter.
    pub fn deliver(&self, mode: ProducerMode, ticket: DeliveryTicket, topic: &str, report: DeliveryReport) {
        let latency = ticket.accepted.elapsed();
        self.metrics.observe_latency(mode, ticket.send_mode, latency);
        let latency_ms = latency.as_secs_f64() * 1000.0;
        let outcome = match &report {
            Ok((partition, offset)) => {
                self.metrics.record(mode, ticket.send_mode, Outcome::Ok);
                tracing::debug!(request_id = %ticket.request_id, %mode, send_mode = %ticket.send_mode, topic,
                    partition, offset, latency_ms, "delivered");
                Delivered::Ok { partition: *partition, offset: *offset }
            }
            Err(failure) => {
                self.metrics.record(mode, ticket.send_mode, Outcome::Error);
                tracing::debug!(request_id = %ticket.request_id, %mode, send_mode = %ticket.send_mode, topic,
                    error = %failure.message, latency_ms, "delivery failed");
                Delivered::Failed(failure.message.clone())
            }
        };
        // The status is recorded whoever waits: a caller that left changes nothing (one that was
        // to carry the outcome has it shared now).
        let sharing = match (ticket.send_mode, ticket.carried) {
            (SendMode::Async, _) => Sharing::Written,
            (SendMode::Sync, false) => Sharing::Acknowledged,
            (SendMode::Sync, true) => Sharing::Carried,
        };
        let ack = self.table.complete(&ticket.request_id, outcome, latency, sharing);
        let heard = ticket.waiter.is_some_and(|waiter| waiter.send((report, ack)).is_ok());
        if sharing == Sharing::Carried && !heard {
            self.table.share(&ticket.request_id);
        }
    }
}
