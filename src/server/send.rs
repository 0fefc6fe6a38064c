//! The send core: the one place a send is validated, routed to its producer, and tracked.
//! The REST API and the server functions both call [`SendService`]; neither adds logic. Below
//! it, Kafka is reached only through the seam's traits ([`RecordProducer`], [`TopicCatalog`]).

use super::access::AccessPolicy;
use crate::error::AppError;
use crate::model::{
    DeliveryState, Field, SendAccepted, SendMode, SendOutcome, SendParams, SendReceipt, SendRequest, SendStatus,
    DEFAULT_MAX_VALUE_BYTES,
};
use crate::server::idempotency::IDEMPOTENCY_KEY_HEADER;
use crate::server::kafka::{DeliveryReport, DeliveryTicket, OutgoingRecord, RecordProducer, TopicCatalog};
use crate::server::metrics::{Outcome, SendMetrics};
use crate::server::status_store::{StatusStore, RECENT_LIMIT};
use crate::server::status_table::{StateAck, StatusTable, Unsent};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use uuid::Uuid;

/// The JSON value of every record, as the seed wrote it (with `"api": "rust"`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordValue<'a> {
    event_id: &'a str,
    mode: &'a str,
    send_mode: &'a str,
    api: &'static str,
    ts: String,
}

/// The current UTC time in RFC 3339, as the records' `ts`.
pub fn now_rfc3339() -> Result<String, AppError> {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| AppError::internal(format!("cannot format the timestamp: {e}")))
}

fn record_value(req: &SendRequest) -> Result<Vec<u8>, AppError> {
    let ts = now_rfc3339()?;
    serde_json::to_vec(&RecordValue {
        event_id: &req.event_id,
        mode: req.mode.as_str(),
        send_mode: req.send_mode.as_str(),
        api: "rust",
        ts,
    })
    .map_err(|e| AppError::internal(format!("cannot serialise the record: {e}")))
}

/// How long a sync answer waits for the state topic to acknowledge its outcome, so that any
/// replica can answer for it at once; past it the answer still goes (the record itself is
/// acknowledged) and the delay is logged.
const STATE_ACK_WAIT: Duration = Duration::from_secs(10);

/// How one send is made: its request id, whether its PENDING status is recorded durably before
/// it is sent, and the idempotency key its record carries.
struct Sending<'a> {
    request_id: Uuid,
    durable: bool,
    idempotency_key: Option<&'a str>,
}

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
        let durable = req.send_mode == SendMode::Async;
        self.send_as(req, Sending { request_id: Uuid::new_v4(), durable, idempotency_key: None }).await
    }

    /// A send under an idempotency key (see `idempotency::gate`): its request id is the key's
    /// claim's, its PENDING status is recorded durably before anything is sent (so a replica that
    /// takes the key over can tell whether it was), and the record carries the key in an
    /// `idempotency-key` header.
    pub async fn send_keyed(&self, req: SendRequest, request_id: Uuid, key: &str) -> Result<SendOutcome, AppError> {
        self.send_as(req, Sending { request_id, durable: true, idempotency_key: Some(key) }).await
    }

    async fn send_as(&self, mut req: SendRequest, sending: Sending<'_>) -> Result<SendOutcome, AppError> {
        // Refused before it reached the producer (forbidden topic, bad partition, full queue).
        let (request_id, started, report) = self
            .enqueue_checked(&req, &sending)
            .await
            .inspect_err(|_| self.metrics.record(req.mode, req.send_mode, Outcome::Rejected))?;
        // The producer holds its own copy of the value: ours goes now, not after the report.
        req.content = None;
        let Some(report) = report else {
            return Ok(SendOutcome::Accepted(SendAccepted::pending(request_id, &req)));
        };
        let (partition, offset) = self.await_report(&req.topic, report).await?;
        Ok(SendOutcome::Delivered(SendReceipt {
            request_id,
            event_id: req.event_id,
            mode: req.mode,
            send_mode: req.send_mode,
            topic: req.topic,
            key: req.key,
            partition,
            offset,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        }))
    }

    /// The broker's acknowledgement of a sync send, within the bound, or the error to answer.
    async fn await_report(
        &self,
        topic: &str,
        report: oneshot::Receiver<(DeliveryReport, StateAck)>,
    ) -> Result<(i32, i64), AppError> {
        match tokio::time::timeout(self.sync_wait, report).await {
            Ok(Ok((Ok(delivered), ack))) => {
                if let Err(why) = ack.wait(STATE_ACK_WAIT).await {
                    tracing::warn!(%why, "a sync send's outcome is not yet readable by the other replicas");
                }
                Ok(delivered)
            }
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

    /// Records the send as PENDING and hands it to its producer, once its destination passed
    /// the checks; for a sync send, also returns where its delivery report will arrive.
    #[allow(clippy::type_complexity)]
    async fn enqueue_checked(
        &self,
        req: &SendRequest,
        sending: &Sending<'_>,
    ) -> Result<(Uuid, Instant, Option<oneshot::Receiver<(DeliveryReport, StateAck)>>), AppError> {
        let seed_value;
        let (value, own_headers): (&[u8], Vec<(&str, &[u8])>) = match &req.content {
            Some(content) => {
                content.validate(self.max_value_bytes).map_err(|e| match e.field {
                    // Too large is 413, as a body over the limit is; a bad header says which.
                    Field::Value => AppError::Rejected { status: 413, message: e.message },
                    field => AppError::Invalid { field: Some(field), message: e.message },
                })?;
                (&content.value, content.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect())
            }
            None => {
                seed_value = record_value(req)?;
                (&seed_value, Vec::new())
            }
        };
        // Checked before the topic is touched (a missing one would be created).
        self.check_destination(req).await?;
        let request_id = sending.request_id;
        let accepted = Instant::now();
        self.table.accept(pending_status(request_id, req), sending.durable).await?;
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
        });
        let mut unsent = Unsent::new(self.table.as_ref(), request_id);
        let key_header = sending.idempotency_key.map(|k| (IDEMPOTENCY_KEY_HEADER, k.as_bytes()));
        let headers: Vec<(&str, &[u8])> = own_headers.into_iter().chain(key_header).collect();
        let record =
            OutgoingRecord { topic: &req.topic, key: &req.key, value, partition: req.partition, headers: &headers };
        self.kafka.producers.send(req.mode, record, ticket).await?;
        unsent.keep();
        Ok((request_id, accepted, report))
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
            .await
            .ok_or_else(|| AppError::not_found(format!("No send with requestId {id} (unknown or expired)")))
    }

    /// The latest sends of every replica, newest first.
    pub fn recent(&self) -> Vec<SendStatus> {
        self.table.recent(RECENT_LIMIT)
    }
}

fn pending_status(request_id: Uuid, req: &SendRequest) -> SendStatus {
    SendStatus {
        request_id,
        state: DeliveryState::Pending,
        event_id: req.event_id.clone(),
        mode: req.mode,
        send_mode: req.send_mode,
        topic: req.topic.clone(),
        key: req.key.clone(),
        partition: None,
        offset: None,
        error: None,
        latency_ms: None,
        replica: None,
        record: req.content.as_ref().map(|c| c.summary()),
    }
}
