//! The send core: the one place a send is validated, routed to its producer, and tracked.
//! The REST API and the server functions both call [`SendService`]; neither adds logic. Below
//! it, Kafka is reached only through the seam's traits ([`RecordProducer`], [`TopicCatalog`]).
//! What a record carries is built in `record`; a send between its checks and its hand-over is a
//! [`PreparedSend`] (`prepared`); waiting for what it recorded to be shared is `settled`.

mod prepared;
mod record;
mod settled;

pub use prepared::PreparedSend;
pub use record::now_rfc3339;
pub use settled::{wait_all_settled, wait_settled};

use super::access::AccessPolicy;
use crate::error::AppError;
use crate::model::{
    Field, SendAccepted, SendMode, SendOutcome, SendParams, SendReceipt, SendRequest, SendStatus,
    DEFAULT_MAX_VALUE_BYTES,
};
use crate::server::kafka::{DeliveryReport, DeliveryTicket, OutgoingRecord, RecordProducer, TopicCatalog};
use crate::server::metrics::{Outcome, SendMetrics};
use crate::server::status_store::{StatusStore, RECENT_LIMIT};
use crate::server::status_table::{Recording, StateAck, StatusTable, Unsent};
use prepared::{pending_status, Sending};
use record::RecordBody;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use uuid::Uuid;

/// What the send core reaches Kafka through.
#[derive(Clone)]
pub struct KafkaPorts {
    pub producers: Arc<dyn RecordProducer>,
    pub topics: Arc<dyn TopicCatalog>,
}

#[derive(Clone)]
pub struct SendService {
    kafka: KafkaPorts,
    table: Arc<dyn StatusTable>,
    access: Arc<AccessPolicy>,
    metrics: Arc<SendMetrics>,
    default_topic: Arc<str>,
    /// Bound on a synchronous wait: librdkafka's own delivery timeout, plus a margin.
    sync_wait: Duration,
    /// Largest value a caller may send (the producers' `message.max.bytes`).
    max_value_bytes: usize,
}

impl SendService {
    pub fn new(
        kafka: KafkaPorts,
        table: Arc<dyn StatusTable>,
        access: Arc<AccessPolicy>,
        metrics: Arc<SendMetrics>,
        default_topic: &str,
        delivery_timeout: Duration,
    ) -> Self {
        Self {
            kafka,
            table,
            access,
            metrics,
            default_topic: default_topic.into(),
            sync_wait: delivery_timeout + Duration::from_secs(5),
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }

    /// The largest value a caller may send, when the producers allow another than the default.
    pub fn with_max_value_bytes(mut self, max: usize) -> Self {
        self.max_value_bytes = max;
        self
    }

    pub fn max_value_bytes(&self) -> usize {
        self.max_value_bytes
    }

    pub fn default_topic(&self) -> &str {
        &self.default_topic
    }

    /// The local view of the statuses (counts, and what tests inspect).
    pub fn store(&self) -> &StatusStore {
        self.table.view()
    }

    pub fn table(&self) -> &Arc<dyn StatusTable> {
        &self.table
    }

    pub fn producers(&self) -> &Arc<dyn RecordProducer> {
        &self.kafka.producers
    }

    pub fn topics(&self) -> &Arc<dyn TopicCatalog> {
        &self.kafka.topics
    }

    /// Validates what a caller typed and sends it.
    pub async fn send(&self, params: &SendParams) -> Result<SendOutcome, AppError> {
        let request = params.validate(&self.default_topic)?;
        self.send_request(request).await
    }

    /// Sends a validated request: sync waits for the broker's acknowledgement, async answers
    /// at once and leaves the outcome in the status store.
    pub async fn send_request(&self, req: SendRequest) -> Result<SendOutcome, AppError> {
        // An async 202 promises a status any replica can report: recorded durably first.
        let recording = if req.send_mode == SendMode::Async { Recording::Durable } else { Recording::Local };
        let (result, settled) = self.send_recorded(req, recording).await;
        wait_settled(settled).await;
        result
    }

    /// Sends one record of a batch, and returns, beside its answer, the state topic's
    /// acknowledgement of its status still to come, for the batch to wait for before it answers:
    /// an async record's PENDING status is written beside the record rather than before it (a
    /// state round trip per record halved a batch's rate), a sync record's outcome as usual.
    pub async fn send_in_batch(&self, req: SendRequest) -> (Result<SendOutcome, AppError>, StateAck) {
        let recording = if req.send_mode == SendMode::Async { Recording::Beside } else { Recording::Local };
        self.send_recorded(req, recording).await
    }

    async fn send_recorded(&self, req: SendRequest, recording: Recording) -> (Result<SendOutcome, AppError>, StateAck) {
        let sending = Sending { request_id: Uuid::new_v4(), recording, idempotency_key: None, carried: false };
        let prepared = match self.prepare(req, sending).await {
            Ok(prepared) => prepared,
            Err(error) => return (Err(error), StateAck::done()),
        };
        let (pending, recorded) = match self.record(&prepared).await {
            Ok(recorded) => recorded,
            Err(error) => return (Err(error), StateAck::done()),
        };
        let (result, settled) = self.hand_over(prepared, pending).await;
        (result, recorded.or(settled))
    }

    /// A send under an idempotency key (see `idempotency::gate`), checked and ready for its
    /// PENDING status: its request id is the key's claim's, its PENDING status is recorded
    /// durably before anything is sent (so a replica that takes the key over can tell whether it
    /// was), and the record carries the key in an `idempotency-key` header. With `carried`, the
    /// key's records carry its statuses: the table records its PENDING here only (the claim
    /// writes it), and a sync outcome is left to the answer ([`PreparedSend::pending_status`]).
    pub async fn prepare_keyed<'k>(
        &self,
        req: SendRequest,
        request_id: Uuid,
        key: &'k str,
        carried: bool,
    ) -> Result<PreparedSend<'k>, AppError> {
        let recording = if carried { Recording::Local } else { Recording::Durable };
        let sending = Sending { request_id, recording, idempotency_key: Some(key), carried };
        self.prepare(req, sending).await
    }

    /// Checks what is sent (its value and headers) and where (the topic may be used, exists, has
    /// the partition): a refusal here touched nothing.
    async fn prepare<'k>(&self, req: SendRequest, sending: Sending<'k>) -> Result<PreparedSend<'k>, AppError> {
        let checked = async {
            if let Some(content) = &req.content {
                content.validate(self.max_value_bytes).map_err(|e| match e.field {
                    // Too large is 413, as a body over the limit is; a bad header says which.
                    Field::Value => AppError::Rejected { status: 413, message: e.message },
                    field => AppError::Invalid { field: Some(field), message: e.message },
                })?;
            }
            // Checked before the topic is touched (a missing one would be created).
            self.check_destination(&req).await
        };
        checked.await.inspect_err(|_| self.metrics.record(req.mode, req.send_mode, Outcome::Rejected))?;
        Ok(PreparedSend { req, sending, accepted: Instant::now() })
    }

    /// Records the send as PENDING (durably when it was prepared so; see [`Sending`]). The status
    /// is abandoned when the guard returned drops before the send is handed over: a send that
    /// will not be made (its key was claimed first by another request, or its caller went away)
    /// leaves none.
    pub async fn record_pending(&self, send: &PreparedSend<'_>) -> Result<Unsent<'_>, AppError> {
        // A keyed send's status is recorded durably or carried: no acknowledgement is left.
        self.record(send).await.map(|(unsent, _)| unsent)
    }

    /// Records the send as PENDING, as its [`Recording`] says: the guard, and the state topic's
    /// acknowledgement still to come ([`Recording::Beside`]).
    async fn record(&self, send: &PreparedSend<'_>) -> Result<(Unsent<'_>, StateAck), AppError> {
        let (req, request_id) = (&send.req, send.sending.request_id);
        let ack = self
            .table
            .accept(pending_status(request_id, req), send.sending.recording)
            .await
            .inspect_err(|_| self.metrics.record(req.mode, req.send_mode, Outcome::Rejected))?;
        Ok((Unsent::new(self.table.as_ref(), request_id), ack))
    }

    /// Hands a send whose PENDING status is recorded to its producer: the answer (sync: once the
    /// broker acknowledged it), and the state topic's acknowledgement of its final status, for
    /// the caller to wait for beside whatever else it records.
    pub async fn hand_over(
        &self,
        send: PreparedSend<'_>,
        pending: Unsent<'_>,
    ) -> (Result<SendOutcome, AppError>, StateAck) {
        let PreparedSend { mut req, sending, accepted } = send;
        let request_id = sending.request_id;
        // Refused before it reached the producer (full queue, broker unreachable).
        let report = match self.enqueue(&req, &sending, accepted, pending).await {
            Ok(report) => report,
            Err(error) => {
                self.metrics.record(req.mode, req.send_mode, Outcome::Rejected);
                return (Err(error), StateAck::done());
            }
        };
        // The producer holds its own copy of the value: ours goes now, not after the report.
        req.content = None;
        let Some(report) = report else {
            return (Ok(SendOutcome::Accepted(SendAccepted::pending(request_id, &req))), StateAck::done());
        };
        match self.await_report(&req.topic, report).await {
            Err(error) => (Err(error), StateAck::done()),
            Ok(((partition, offset), settled)) => {
                let receipt = SendReceipt {
                    request_id,
                    event_id: req.event_id,
                    mode: req.mode,
                    send_mode: req.send_mode,
                    topic: req.topic,
                    key: req.key,
                    partition,
                    offset,
                    latency_ms: accepted.elapsed().as_secs_f64() * 1000.0,
                };
                (Ok(SendOutcome::Delivered(receipt)), settled)
            }
        }
    }

    /// The broker's acknowledgement of a sync send, within the bound, with the state topic's
    /// acknowledgement of its status to come; or the error to answer.
    async fn await_report(
        &self,
        topic: &str,
        report: oneshot::Receiver<(DeliveryReport, StateAck)>,
    ) -> Result<((i32, i64), StateAck), AppError> {
        match tokio::time::timeout(self.sync_wait, report).await {
            Ok(Ok((Ok(delivered), ack))) => Ok((delivered, ack)),
            Ok(Ok((Err(failure), _))) => {
                let message = format!("Delivery to '{topic}' failed: {}", failure.message);
                Err(if failure.timed_out { AppError::Timeout { message } } else { AppError::broker(message) })
            }
            Ok(Err(_)) => Err(AppError::internal("the producer was closed before it reported the delivery")),
            Err(_) => Err(AppError::Timeout {
                message: format!("The send timed out: no delivery report from Kafka within {:?}", self.sync_wait),
            }),
        }
    }

    /// The topic may be used, exists (created if missing), and has the partition asked for.
    async fn check_destination(&self, req: &SendRequest) -> Result<(), AppError> {
        self.access.check_topic(&req.topic)?;
        let partitions = self.kafka.topics.partitions(&req.topic).await?;
        match req.partition.filter(|p| *p >= partitions) {
            Some(partition) => Err(AppError::UnknownPartition { topic: req.topic.clone(), partition, partitions }),
            None => Ok(()),
        }
    }

    /// Hands the record to its producer; for a sync send, also returns where its delivery report
    /// will arrive. Its PENDING status is abandoned if the producer refuses it.
    async fn enqueue(
        &self,
        req: &SendRequest,
        sending: &Sending<'_>,
        accepted: Instant,
        mut unsent: Unsent<'_>,
    ) -> Result<Option<oneshot::Receiver<(DeliveryReport, StateAck)>>, AppError> {
        let request_id = sending.request_id;
        let body = RecordBody::of(req, sending.idempotency_key)?;
        let (waiter, report) = match req.send_mode {
            SendMode::Sync => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            SendMode::Async => (None, None),
        };
        let ticket = Box::new(DeliveryTicket {
            request_id,
            send_mode: req.send_mode,
            accepted,
            waiter,
            partition: req.partition,
            resent: false,
            carried: sending.carried,
        });
        let record = OutgoingRecord {
            topic: &req.topic,
            key: &req.key,
            value: &body.value,
            partition: req.partition,
            headers: &body.headers,
        };
        self.kafka.producers.send(req.mode, record, ticket).await?;
        unsent.keep();
        Ok(report)
    }

    /// The status of one send, by the request id its answer carried (from any replica).
    pub async fn status(&self, request_id: Option<&str>) -> Result<SendStatus, AppError> {
        let raw = request_id.map(str::trim).filter(|s| !s.is_empty());
        let Some(raw) = raw else {
            return Err(AppError::invalid(Field::RequestId, "Missing: requestId"));
        };
        let id = Uuid::parse_str(raw).map_err(|_| {
            AppError::invalid(Field::RequestId, format!("requestId '{}' is not a UUID", raw.escape_debug()))
        })?;
        self.table
            .get(&id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("No send with requestId {id} (unknown or expired)")))
    }

    /// The latest sends of every replica, newest first.
    pub fn recent(&self) -> Vec<SendStatus> {
        self.table.recent(RECENT_LIMIT)
    }
}
