//! The batch core: many of the caller's records in one request, each validated and sent on its
//! own through the send core (one bad record does not fail the others), up to
//! [`BatchService::max_records`], with a bounded number in flight. Both doors (REST
//! `/api/v1/batches`, the `send_batch` server function) call it. Async batches are kept by the
//! status table (the last [`KEPT_BATCHES`], shared by every replica as statuses are) so that
//! `GET /api/v1/batches/{id}` can count their records by state, on any replica.

pub mod input;

use crate::error::AppError;
use crate::model::{
    BatchAnswer, BatchCounts, BatchRecordResult, BatchRecordStatus, BatchStatus, Field, RecordError, SendMode,
    SendOutcome, SendParams, SendStatus,
};
use crate::server::send::{wait_all_settled, SendService};
use crate::server::status_table::{BatchEntry, StateAck, KEPT_BATCHES};
use futures::{Stream, StreamExt};
use input::ParsedRecord;
use uuid::Uuid;

/// Records of one batch in the send core at once (answered in order): enough to keep the
/// producer's batches full, few enough that a batch of large values is never held in memory.
const IN_FLIGHT: usize = 64;

#[derive(Clone)]
pub struct BatchService {
    send: SendService,
    max_records: usize,
}

impl From<&AppError> for RecordError {
    fn from(error: &AppError) -> Self {
        RecordError { status: error.status(), field: error.field(), message: error.to_string() }
    }
}

impl BatchService {
    pub fn new(send: SendService, max_records: usize) -> Self {
        Self { send, max_records }
    }

    pub fn max_records(&self) -> usize {
        self.max_records
    }

    /// The largest record line or value a batch takes.
    pub fn max_value_bytes(&self) -> usize {
        self.send.max_value_bytes()
    }

    /// Sends every record of a batch; the answer lists them in order. A stream error (a body
    /// that cannot be read, a line too long, more than `max_records`) fails the batch; records
    /// already sent stay sent, with their statuses.
    pub async fn run<S>(&self, params: SendParams, records: S) -> Result<BatchAnswer, AppError>
    where
        S: Stream<Item = Result<ParsedRecord, AppError>>,
    {
        let probe = SendParams { event_id: Some("batch".into()), ..params.clone() };
        let head = probe.validate(self.send.default_topic())?;
        let max = self.max_records;
        let (params, default_topic) = (&params, self.send.default_topic());
        let sends = records.enumerate().map(|(index, item)| async move {
            if index >= max {
                return Err(too_many(max));
            }
            let parsed = item?;
            Ok(self.send_one(index, parsed, params, default_topic).await)
        });
        let mut sends = std::pin::pin!(sends.buffered(IN_FLIGHT));
        let (mut results, mut acks) = (Vec::new(), Vec::new());
        while let Some(sent) = sends.next().await {
            let (result, ack) = sent?;
            results.push(result);
            acks.push(ack);
        }
        let batch_id = Uuid::new_v4();
        let failed = results.iter().filter(|r| r.error.is_some()).count();
        // Answered once every replica can report each record (its PENDING status, async; its
        // outcome, sync), as a lone send is, and an async batch itself: both written at once.
        let kept = async {
            if head.send_mode == SendMode::Async {
                self.keep(batch_id, &results).await;
            }
        };
        tokio::join!(wait_all_settled(acks), kept);
        Ok(BatchAnswer {
            batch_id,
            mode: head.mode,
            send_mode: head.send_mode,
            topic: head.topic,
            records: results.len(),
            succeeded: results.len() - failed,
            failed,
            results,
        })
    }

    async fn send_one(
        &self,
        index: usize,
        parsed: ParsedRecord,
        params: &SendParams,
        default_topic: &str,
    ) -> (BatchRecordResult, StateAck) {
        let failed = |error: RecordError| BatchRecordResult {
            index,
            request_id: None,
            partition: None,
            offset: None,
            error: Some(error),
        };
        let request = match parsed.and_then(|input| input.into_request(params, default_topic)) {
            Ok(request) => request,
            Err(error) => return (failed(error), StateAck::done()),
        };
        let (sent, ack) = self.send.send_in_batch(request).await;
        let result = match sent {
            Ok(SendOutcome::Delivered(r)) => BatchRecordResult {
                index,
                request_id: Some(r.request_id),
                partition: Some(r.partition),
                offset: Some(r.offset),
                error: None,
            },
            Ok(SendOutcome::Accepted(a)) => {
                BatchRecordResult { index, request_id: Some(a.request_id), partition: None, offset: None, error: None }
            }
            Err(error) => failed(RecordError::from(&error)),
        };
        (result, ack)
    }

    /// Keeps an async batch for `GET /api/v1/batches/{id}` on every replica, before it is
    /// answered. Its records are sent whatever happens here: if the state topic does not take
    /// it, this replica still answers for it (and each record's status is on every replica).
    async fn keep(&self, batch_id: Uuid, results: &[BatchRecordResult]) {
        let entries = results
            .iter()
            .map(|r| match (&r.error, r.request_id) {
                (None, Some(id)) => BatchEntry::Sent(id),
                (Some(e), _) => BatchEntry::Refused(Box::new(e.clone())),
                (None, None) => BatchEntry::Refused(Box::new(RecordError {
                    status: 500,
                    field: None,
                    message: "no request id".into(),
                })),
            })
            .collect();
        if let Err(why) = self.send.table().keep_batch(batch_id, entries).await {
            tracing::warn!(%batch_id, %why, "an async batch is known to this replica only");
        }
    }

    /// A kept async batch: its records counted by state, and each one's status.
    pub async fn status(&self, raw_id: &str) -> Result<BatchStatus, AppError> {
        let batch_id = Uuid::parse_str(raw_id.trim()).map_err(|_| {
            AppError::invalid(Field::Records, format!("batch id '{}' is not a UUID", raw_id.escape_debug()))
        })?;
        let Some(batch) = self.send.table().batch(&batch_id).await? else {
            return Err(AppError::not_found(format!(
                "No async batch {batch_id} (the last {KEPT_BATCHES} are kept; each record's status is also at \
                 /api/v1/status)"
            )));
        };
        let found = self.statuses_of(&batch).await?;
        let mut counts = BatchCounts::default();
        let mut statuses = Vec::with_capacity(batch.len());
        for ((index, entry), found) in batch.iter().enumerate().zip(found) {
            let record = match entry {
                BatchEntry::Sent(id) => match found {
                    Some(status) => {
                        counts.add(status.state);
                        BatchRecordStatus { index, status: Some(status), error: None }
                    }
                    None => {
                        counts.rejected += 1;
                        let error =
                            RecordError { status: 404, field: None, message: format!("status {id} no longer kept") };
                        BatchRecordStatus { index, status: None, error: Some(error) }
                    }
                },
                BatchEntry::Refused(error) => {
                    counts.rejected += 1;
                    BatchRecordStatus { index, status: None, error: Some((**error).clone()) }
                }
            };
            statuses.push(record);
        }
        Ok(BatchStatus { batch_id, records: batch.len(), counts, statuses })
    }

    /// The status of each record sent, as the view holds it: one catch-up at most for the whole
    /// batch (not one per status missing: a batch whose statuses aged out would take minutes).
    async fn statuses_of(&self, batch: &[BatchEntry]) -> Result<Vec<Option<SendStatus>>, AppError> {
        let table = self.send.table();
        let read = |entry: &BatchEntry| match entry {
            BatchEntry::Sent(id) => table.read(id),
            BatchEntry::Refused(_) => None,
        };
        let mut found: Vec<Option<SendStatus>> = batch.iter().map(read).collect();
        let first_missing = batch.iter().zip(&found).find_map(|(entry, status)| match (entry, status) {
            (BatchEntry::Sent(id), None) => Some(*id),
            _ => None,
        });
        if let Some(id) = first_missing {
            table.get(&id).await?;
            for (entry, status) in batch.iter().zip(found.iter_mut()) {
                if status.is_none() {
                    *status = read(entry);
                }
            }
        }
        Ok(found)
    }
}

fn too_many(max: usize) -> AppError {
    AppError::Rejected {
        status: 413,
        message: format!("The batch has more than {max} records (BATCH_MAX_RECORDS); send it in smaller batches"),
    }
}

#[cfg(test)]
mod tests;
