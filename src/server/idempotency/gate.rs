//! Every send passes the gate. Without an `Idempotency-Key` it goes straight to the send core
//! (or is refused when `REQUIRE_IDEMPOTENCY_KEY` is on). With one:
//!
//! - a new key is claimed in the key log, the claim carrying the send's PENDING status (it counts
//!   only where the claim wins); the winner sends (its record carries the key in an
//!   `idempotency-key` header) and records its final answer, carrying a sync send's final status
//!   (an async one's goes as any other's). A refusal that recorded nothing (a 4xx, a 503) gives
//!   the key back, so the caller may retry with the same key;
//! - a repeat with the same parameters gets the recorded answer replayed; while the first
//!   request is in flight, a sync repeat gets 409 (`Retry-After`) and an async one the original
//!   202 as soon as there is one; a repeat with other parameters gets 422;
//! - a claim that will never be answered (its replica stopped, or it is older than the longest a
//!   send may take) is taken over. Every keyed send records its PENDING status before anything
//!   is sent, so the status of the old claim's request decides: none means nothing was sent and
//!   the send is made now; otherwise the answer is the one that status gives (for a sync send
//!   whose outcome is unknown, a 502 saying so, final for the key). See docs/idempotency.md.

use super::{now_ms, Claimed, Fingerprint, KeyClaim, KeyEntry, KeyLog, RecordedAnswer, ScopedKey};
use crate::error::AppError;
use crate::model::{
    DeliveryState, Field, SendAccepted, SendMode, SendOutcome, SendParams, SendReceipt, SendRequest, SendStatus,
};
use crate::server::send::{wait_settled, PreparedSend, SendService};
use crate::server::status_table::{CarriedStatus, StateAck, Unsent};
use std::sync::Arc;
use std::time::Duration;

/// How often a key given back while this request waited is claimed again.
const CLAIM_ATTEMPTS: usize = 3;

/// What a send got, and whether it is a recorded answer replayed.
#[derive(Debug)]
pub struct GateAnswer {
    pub result: Result<SendOutcome, AppError>,
    pub replayed: bool,
}

fn fresh(result: Result<SendOutcome, AppError>) -> GateAnswer {
    GateAnswer { result, replayed: false }
}

fn replayed(answer: RecordedAnswer) -> GateAnswer {
    GateAnswer { result: answer.into_result(), replayed: true }
}

fn in_progress(key: &ScopedKey) -> AppError {
    AppError::Conflict {
        message: format!(
            "A request with Idempotency-Key '{}' is still in progress: retry in a second to get its answer",
            key.key.escape_debug()
        ),
        retry_after_secs: 1,
    }
}

/// Whether an answer is kept with its key. A refusal made before anything was sent (4xx, and a
/// 503: queue full, broker or state topic unreachable) is not: the same key may be retried.
fn is_recorded(result: &Result<SendOutcome, AppError>) -> bool {
    match result {
        Ok(_) => true,
        Err(error) => !(400..500).contains(&error.status()) && error.status() != 503,
    }
}

/// A claim another request made first: its entry, and the request back for a repeat's answer.
struct LostClaim {
    entry: KeyEntry,
    request: SendRequest,
}

#[derive(Clone)]
pub struct IdempotencyGate {
    send: SendService,
    keys: Arc<dyn KeyLog>,
    required: bool,
    /// A claim without an answer for longer than this is taken over, even if its replica lives.
    stale_after: Duration,
    /// How long an async repeat waits for the original's 202.
    accept_wait: Duration,
}

impl IdempotencyGate {
    pub fn new(send: SendService, keys: Arc<dyn KeyLog>, required: bool, delivery_timeout: Duration) -> Self {
        Self {
            send,
            keys,
            required,
            stale_after: delivery_timeout + Duration::from_secs(30),
            accept_wait: Duration::from_secs(10),
        }
    }

    pub fn send_service(&self) -> &SendService {
        &self.send
    }

    /// Validates what a caller typed and sends it, under its key if it gave one.
    pub async fn send(&self, params: &SendParams, key: Option<ScopedKey>) -> GateAnswer {
        self.send_with(params, None, key).await
    }

    /// The same, with the caller's own value and headers (`None`: the seed's value).
    pub async fn send_with(
        &self,
        params: &SendParams,
        content: Option<crate::model::RecordContent>,
        key: Option<ScopedKey>,
    ) -> GateAnswer {
        let mut req = match params.validate(self.send.default_topic()) {
            Ok(req) => req,
            Err(error) => return fresh(Err(error.into())),
        };
        req.content = content;
        self.send_request(req, key).await
    }

    pub async fn send_request(&self, req: SendRequest, key: Option<ScopedKey>) -> GateAnswer {
        match key {
            Some(key) => self.keyed(req, &key).await,
            None if self.required => fresh(Err(AppError::invalid(
                Field::IdempotencyKey,
                "This service requires an Idempotency-Key header on every send (REQUIRE_IDEMPOTENCY_KEY): send one \
                 unique key per event, e.g. a UUID, and the same key when you retry it (docs/idempotency.md)",
            ))),
            None => fresh(self.send.send_request(req).await),
        }
    }

    async fn keyed(&self, mut req: SendRequest, key: &ScopedKey) -> GateAnswer {
        let fingerprint = Fingerprint::of(&req);
        for _ in 0..CLAIM_ATTEMPTS {
            let entry = match self.keys.lookup(&key.scoped) {
                Some(entry) => entry,
                None => match self.claim_and_send(req, key, &fingerprint).await {
                    Ok(answer) => return answer,
                    Err(lost) => {
                        req = lost.request;
                        lost.entry
                    }
                },
            };
            if let Some(answer) = self.repeat(&req, &fingerprint, key, entry).await {
                return answer;
            }
        }
        fresh(Err(in_progress(key)))
    }

    fn new_claim(&self, fingerprint: &Fingerprint, takeover_of: Option<i64>) -> KeyClaim {
        KeyClaim {
            replica: self.keys.replica().to_owned(),
            request_id: uuid::Uuid::new_v4(),
            fingerprint: fingerprint.clone(),
            at_ms: now_ms(),
            takeover_of,
        }
    }

    /// A key nobody holds: the send is checked first (a refusal claims nothing) and its PENDING
    /// status recorded here, then the claim is written carrying that status: one record, where
    /// a claim and a status apart cost two (on Tansu, two partitions written take ~0.1 ms more
    /// than one). A claim lost to another request withdraws the status (the guard drops) and
    /// gives the request back, to be answered as a repeat.
    async fn claim_and_send(
        &self,
        req: SendRequest,
        key: &ScopedKey,
        fingerprint: &Fingerprint,
    ) -> Result<GateAnswer, LostClaim> {
        let claim = self.new_claim(fingerprint, None);
        let prepared = match self.send.prepare_keyed(req, claim.request_id, &key.key, true).await {
            Ok(prepared) => prepared,
            Err(error) => return Ok(fresh(Err(error))),
        };
        let pending = match self.send.record_pending(&prepared).await {
            Ok(pending) => pending,
            Err(error) => return Ok(fresh(Err(error))),
        };
        match self.keys.claim(&key.scoped, claim.clone(), Some(prepared.pending_status())).await {
            Err(error) => Ok(fresh(Err(error))),
            Ok(Claimed::Lost(entry)) => {
                drop(pending);
                Err(LostClaim { entry: *entry, request: prepared.into_request() })
            }
            Ok(Claimed::Won) => Ok(fresh(self.finish(key, &claim, Ok((prepared, pending))).await)),
        }
    }

    /// The send of a claim won by taking a key over: checked, PENDING recorded, sent.
    async fn send_claimed(&self, req: SendRequest, key: &ScopedKey, claim: &KeyClaim) -> Result<SendOutcome, AppError> {
        let ready = match self.send.prepare_keyed(req, claim.request_id, &key.key, false).await {
            Ok(prepared) => self.send.record_pending(&prepared).await.map(|pending| (prepared, pending)),
            Err(error) => Err(error),
        };
        self.finish(key, claim, ready).await
    }

    /// The winner's send, once its PENDING status is recorded (or the refusal that stopped it):
    /// its answer is recorded with the key, carrying its final status when it was left to the
    /// answer (else while the state topic acknowledges that status), or, if it recorded nothing,
    /// the key is given back.
    async fn finish(
        &self,
        key: &ScopedKey,
        claim: &KeyClaim,
        ready: Result<(PreparedSend<'_>, Unsent<'_>), AppError>,
    ) -> Result<SendOutcome, AppError> {
        let table = self.send.table().as_ref();
        let (result, settled, mut carried) = match ready {
            Ok((prepared, pending)) => {
                let carried = prepared.outcome_carried().then(|| CarriedStatus::new(table, claim.request_id));
                let (result, settled) = self.send.hand_over(prepared, pending).await;
                (result, settled, carried)
            }
            Err(error) => (Err(error), StateAck::done(), None),
        };
        if !is_recorded(&result) {
            self.keys.release(&key.scoped, claim.request_id);
            return result;
        }
        let answer = RecordedAnswer::of(&result);
        let status = carried.as_ref().and_then(|_| table.view().get(&claim.request_id));
        let (recorded, ()) = tokio::join!(self.keys.record(&key.scoped, claim, answer, status), wait_settled(settled));
        match recorded {
            Ok(()) => carried.iter_mut().for_each(CarriedStatus::carried),
            Err(error) => tracing::warn!(%error, request_id = %claim.request_id,
                "the answer to a keyed send was not recorded: a retry will be answered from its status"),
        }
        result
    }

    /// A request that found its key held. `None`: the key was given back meanwhile.
    async fn repeat(
        &self,
        req: &SendRequest,
        fingerprint: &Fingerprint,
        key: &ScopedKey,
        entry: KeyEntry,
    ) -> Option<GateAnswer> {
        if entry.claim.fingerprint != *fingerprint {
            let differences = entry.claim.fingerprint.differences(fingerprint).join("; ");
            return Some(fresh(Err(AppError::Unprocessable {
                message: format!(
                    "Idempotency-Key '{}' was first used for another request: {differences}. Send a new key for a \
                     new event",
                    key.key.escape_debug()
                ),
            })));
        }
        if let Some(answer) = entry.answer {
            return Some(replayed(answer));
        }
        // Its answer may be recorded already, by another replica a moment ago.
        let entry = match self.keys.settle(&key.scoped).await {
            None => return None,
            Some(KeyEntry { answer: Some(answer), .. }) => return Some(replayed(answer)),
            Some(entry) => entry,
        };
        let stale = self.keys.verified_ms().saturating_sub(entry.claim.at_ms) > self.stale_after.as_millis() as i64;
        if stale || self.keys.claimant_gone(&entry.claim) {
            return Some(self.take_over(req.clone(), fingerprint, key, entry).await);
        }
        if req.send_mode == SendMode::Sync {
            return Some(fresh(Err(in_progress(key))));
        }
        match self.keys.wait_answer(&key.scoped, self.accept_wait).await {
            None => None,
            Some(KeyEntry { answer: Some(answer), .. }) => Some(replayed(answer)),
            Some(_) => Some(fresh(Err(in_progress(key)))),
        }
    }

    /// Takes over a claim that will never be answered: the old request's status says what
    /// happened (every keyed send records PENDING before it sends).
    async fn take_over(
        &self,
        req: SendRequest,
        fingerprint: &Fingerprint,
        key: &ScopedKey,
        old: KeyEntry,
    ) -> GateAnswer {
        // Asked before the takeover claim too: a taker that cannot catch up answers 503 and
        // leaves no claim of its own that a retry would meet as "in progress".
        if let Err(behind) = self.send.table().get(&old.claim.request_id).await {
            return fresh(Err(behind));
        }
        let claim = self.new_claim(fingerprint, Some(old.offset));
        match self.keys.claim(&key.scoped, claim.clone(), None).await {
            Err(error) => fresh(Err(error)),
            Ok(Claimed::Lost(entry)) => match entry.answer {
                Some(answer) => replayed(answer),
                None => fresh(Err(in_progress(key))),
            },
            // Unknown only once the view holds everything written: else the first request may
            // have sent, and this one must not.
            Ok(Claimed::Won) => match self.send.table().get(&old.claim.request_id).await {
                Err(behind) => fresh(Err(behind)),
                Ok(None) => fresh(self.send_claimed(req, key, &claim).await),
                Ok(Some(status)) => {
                    tracing::info!(request_id = %status.request_id, state = ?status.state,
                        "an idempotency key taken over: answered from the first request's status");
                    let answer = RecordedAnswer::of(&answer_from_status(&status, &req));
                    if let Err(error) = self.keys.record(&key.scoped, &claim, answer.clone(), None).await {
                        tracing::warn!(%error, "the answer of a taken-over key was not recorded");
                    }
                    replayed(answer)
                }
            },
        }
    }
}

/// The answer the first request would have given, from its status.
fn answer_from_status(status: &SendStatus, req: &SendRequest) -> Result<SendOutcome, AppError> {
    match (req.send_mode, status.state) {
        (SendMode::Async, _) => Ok(SendOutcome::Accepted(SendAccepted::pending(status.request_id, req))),
        (SendMode::Sync, DeliveryState::Ok) => Ok(SendOutcome::Delivered(SendReceipt {
            request_id: status.request_id,
            event_id: req.event_id.clone(),
            mode: req.mode,
            send_mode: req.send_mode,
            topic: req.topic.clone(),
            key: req.key.clone(),
            partition: status.partition.unwrap_or(-1),
            offset: status.offset.unwrap_or(-1),
            latency_ms: status.latency_ms.unwrap_or_default(),
        })),
        (SendMode::Sync, DeliveryState::Error) => Err(AppError::broker(format!(
            "Delivery to '{}' failed: {}",
            req.topic,
            status.error.as_deref().unwrap_or("no detail")
        ))),
        (SendMode::Sync, DeliveryState::Pending | DeliveryState::Unknown) => Err(AppError::broker(format!(
            "The outcome of the first request with this Idempotency-Key is unknown: replica {} accepted it \
             (requestId {}) and stopped before Kafka's delivery report, so the record may or may not be in topic \
             '{}' (look for eventId '{}'). This answer is final for the key: a new attempt needs a new key",
            status.replica.as_deref().unwrap_or("?"),
            status.request_id,
            req.topic,
            req.event_id
        ))),
    }
}
