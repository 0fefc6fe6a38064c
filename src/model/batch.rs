//! Batches of the caller's own records (`POST /api/v1/batches`): what each record's answer
//! says, and what a batch's status counts.

use super::request::Field;
use super::status::{DeliveryState, SendStatus};
use super::{ProducerMode, SendMode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Records in one batch, unless `BATCH_MAX_RECORDS` says otherwise.
pub const DEFAULT_BATCH_MAX_RECORDS: usize = 10_000;

/// Why one record of a batch was not sent (or not delivered).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordError {
    /// The HTTP status a single send would have had (400 invalid, 413 too large, 502 broker...).
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<Field>,
    pub message: String,
}

/// One record's answer, in the batch's order.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecordResult {
    pub index: usize,
    /// Set when the record was accepted (its status is at `/api/v1/status?requestId=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Uuid>,
    /// sync: where the broker wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
}

/// The answer to a batch: sync, once every record's delivery report came; async, once every
/// record was accepted (its PENDING status recorded), with the batch id to follow it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchAnswer {
    pub batch_id: Uuid,
    pub mode: ProducerMode,
    pub send_mode: SendMode,
    pub topic: String,
    /// Records in the batch.
    pub records: usize,
    /// sync: delivered; async: accepted.
    pub succeeded: usize,
    pub failed: usize,
    pub results: Vec<BatchRecordResult>,
}

/// Records of a batch by state, and refused ones.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchCounts {
    pub pending: usize,
    pub ok: usize,
    pub error: usize,
    pub unknown: usize,
    /// Refused before they were sent (invalid, too large), and statuses no longer kept.
    pub rejected: usize,
}

impl BatchCounts {
    pub fn add(&mut self, state: DeliveryState) {
        match state {
            DeliveryState::Pending => self.pending += 1,
            DeliveryState::Ok => self.ok += 1,
            DeliveryState::Error => self.error += 1,
            DeliveryState::Unknown => self.unknown += 1,
        }
    }
}

/// `GET /api/v1/batches/{id}`: the counts, and each record's status (or why it has none).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchStatus {
    pub batch_id: Uuid,
    pub records: usize,
    pub counts: BatchCounts,
    pub statuses: Vec<BatchRecordStatus>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecordStatus {
    pub index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SendStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
}
