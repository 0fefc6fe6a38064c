//! A send between its checks and its hand-over to the producer: how it is made ([`Sending`]),
//! and the PENDING status it starts with.

use crate::model::{DeliveryState, SendMode, SendRequest, SendStatus};
use crate::server::status_table::Recording;
use std::time::Instant;
use uuid::Uuid;

/// How one send is made: its request id, how its PENDING status is recorded (durably before it
/// is sent, for a lone async send), the idempotency key its record carries, and whether that
/// key's records carry its statuses to the other replicas (its PENDING in the claim, a sync
/// outcome in the answer).
pub(super) struct Sending<'a> {
    pub request_id: Uuid,
    pub recording: Recording,
    pub idempotency_key: Option<&'a str>,
    pub carried: bool,
}

/// A send whose value and destination passed their checks (for a keyed send,
/// [`SendService::prepare_keyed`](super::SendService::prepare_keyed)): its PENDING status is recorded next
/// ([`SendService::record_pending`](super::SendService::record_pending)), then it is handed over ([`SendService::hand_over`](super::SendService::hand_over)).
pub struct PreparedSend<'k> {
    pub(super) req: SendRequest,
    pub(super) sending: Sending<'k>,
    /// When it was accepted: its latency counts from here.
    pub(super) accepted: Instant,
}

impl PreparedSend<'_> {
    /// The request back, for a send that will not be made.
    pub fn into_request(self) -> SendRequest {
        self.req
    }

    /// Its PENDING status, for the claim that carries it.
    pub fn pending_status(&self) -> SendStatus {
        pending_status(self.sending.request_id, &self.req)
    }

    /// Whether its outcome is left to the caller to carry (a sync send prepared `carried`).
    pub fn outcome_carried(&self) -> bool {
        self.sending.carried && self.req.send_mode == SendMode::Sync
    }
}

/// The PENDING status a send starts with.
pub(super) fn pending_status(request_id: Uuid, req: &SendRequest) -> SendStatus {
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
