//! Exactly once from the HTTP caller: a send with an `Idempotency-Key` writes one record, however
//! often the caller retries it and whichever replica each retry reaches (IETF
//! draft-ietf-httpapi-idempotency-key-header, with Stripe's conventions).
//!
//! A key is scoped to the caller ([`scope`]). The first request with it claims the key in a
//! [`KeyLog`] (the state topic, where statuses live: `shared_state::SharedKeyLog`), and the
//! log's order settles a race: the first claim of a key wins. The winner sends and records its
//! final answer with the key; a repeat with the same parameters gets that answer replayed, a
//! repeat while it is in flight gets 409 (sync) or the original 202 once there is one (async), a
//! repeat with other parameters gets 422. [`gate`] holds that flow, [`table`] what a replica
//! knows of the keys, [`local`] a key log in memory (a lab run's own sends, tests).

pub mod gate;
pub mod local;
pub mod table;

pub use gate::{GateAnswer, IdempotencyGate};
pub use local::LocalKeyLog;
pub use table::KeyTable;

use crate::error::AppError;
use crate::model::{SendOutcome, SendRequest, SendStatus};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

/// The header a caller sends, the one a replayed answer carries, and the record header.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";

/// Whose keys these are: with `API_TOKEN`, a hash of the caller's token (never the token
/// itself), so that if several callers' tokens are ever accepted, none can read another's
/// answers; without one, every caller shares one scope.
pub fn scope(token: Option<&str>) -> String {
    match token {
        Some(token) => {
            let digest = Sha256::digest(token.as_bytes());
            let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            format!("token-{hex}")
        }
        None => "anonymous".to_owned(),
    }
}

/// The `Idempotency-Key` of a request, within the caller's scope; `None` without the header.
/// One header at most, printable ASCII (see `model::parse_idempotency_key`), else 400.
pub fn key_from_headers(
    headers: &axum::http::HeaderMap,
    access: &crate::server::access::AccessPolicy,
) -> Result<Option<ScopedKey>, AppError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY_HEADER).iter();
    let Some(value) = values.next() else { return Ok(None) };
    let invalid = |message: &str| AppError::invalid(crate::model::Field::IdempotencyKey, message);
    if values.next().is_some() {
        return Err(invalid("Idempotency-Key appears more than once: send one key per request"));
    }
    let raw = value.to_str().map_err(|_| invalid("Idempotency-Key contains bytes that are not printable ASCII"))?;
    let key = crate::model::parse_idempotency_key(raw)?;
    Ok(Some(ScopedKey::new(&access.key_scope(headers), &key)))
}

/// A caller's key within its scope: what the key log is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopedKey {
    /// As the caller sent it (it goes into the record's `idempotency-key` header).
    pub key: String,
    pub scoped: String,
}

impl ScopedKey {
    pub fn new(scope: &str, key: &str) -> Self {
        Self { key: key.to_owned(), scoped: format!("{scope}/{key}") }
    }
}

/// A request's fingerprint: its validated, normalised parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fingerprint {
    pub mode: String,
    pub event_id: String,
    pub topic: String,
    pub send_mode: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// A digest of the caller's own value and headers, when it gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// SHA-256 of a record's value and headers, in hex.
fn content_digest(content: &crate::model::RecordContent) -> String {
    let mut hash = Sha256::new();
    hash.update((content.value.len() as u64).to_be_bytes());
    hash.update(&content.value);
    for (name, value) in &content.headers {
        for part in [name.as_bytes(), value.as_bytes()] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Fingerprint {
    pub fn of(req: &SendRequest) -> Self {
        Self {
            mode: req.mode.as_str().to_owned(),
            event_id: req.event_id.clone(),
            topic: req.topic.clone(),
            send_mode: req.send_mode.as_str().to_owned(),
            key: req.key.clone(),
            partition: req.partition,
            content: req.content.as_ref().map(content_digest),
        }
    }

    /// What differs, parameter by parameter: `eventId 'A' (first request) vs 'B' (this one)`.
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let show = |p: Option<i32>| p.map_or_else(|| "none".to_owned(), |p| p.to_string());
        let digest = |c: &Option<String>| {
            c.as_deref().map_or_else(|| "none".to_owned(), |d| format!("sha256 {}", &d[..12.min(d.len())]))
        };
        let pairs = [
            ("mode", self.mode.clone(), other.mode.clone()),
            ("eventId", self.event_id.clone(), other.event_id.clone()),
            ("topic", self.topic.clone(), other.topic.clone()),
            ("sendMode", self.send_mode.clone(), other.send_mode.clone()),
            ("key", self.key.clone(), other.key.clone()),
            ("partition", show(self.partition), show(other.partition)),
            ("value/headers", digest(&self.content), digest(&other.content)),
        ];
        pairs
            .into_iter()
            .filter(|(_, a, b)| a != b)
            .map(|(name, a, b)| {
                format!("{name} '{}' (first request) vs '{}' (this one)", a.escape_debug(), b.escape_debug())
            })
            .collect()
    }
}

/// A replica's claim of a key, for one request id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyClaim {
    pub replica: String,
    pub request_id: Uuid,
    pub fingerprint: Fingerprint,
    /// Wall-clock ms when it was made (a claim left without answer for too long is taken over).
    pub at_ms: i64,
    /// A claim that takes over from an earlier one that will never be answered (its replica
    /// stopped, or it is older than the longest a send may take): the offset of that claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takeover_of: Option<i64>,
}

/// The final answer to the request that won a key, as both doors render it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RecordedAnswer {
    Sent(SendOutcome),
    Failed(AppError),
}

impl RecordedAnswer {
    pub fn of(result: &Result<SendOutcome, AppError>) -> Self {
        match result {
            Ok(outcome) => RecordedAnswer::Sent(outcome.clone()),
            Err(error) => RecordedAnswer::Failed(error.clone()),
        }
    }

    pub fn into_result(self) -> Result<SendOutcome, AppError> {
        match self {
            RecordedAnswer::Sent(outcome) => Ok(outcome),
            RecordedAnswer::Failed(error) => Err(error),
        }
    }
}

/// What the key log knows of a key: its winning claim, and its answer once recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEntry {
    pub claim: KeyClaim,
    /// Where the winning claim sits in the log.
    pub offset: i64,
    pub answer: Option<RecordedAnswer>,
    /// When the key was first claimed, in wall-clock ms (it expires a TTL later).
    pub since_ms: i64,
}

/// How a claim went.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    Won,
    /// Another request holds the key.
    Lost(Box<KeyEntry>),
}

/// Where keys are claimed and answers recorded: the state topic, shared by every replica, or
/// memory (a lab run's own sends, tests).
pub trait KeyLog: Send + Sync {
    /// What is known of a key now.
    fn lookup(&self, key: &str) -> Option<KeyEntry>;

    /// What is known of a key once this replica read everything written before now (bounded):
    /// an answer another replica recorded a moment ago is seen.
    fn settle<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<KeyEntry>>;

    /// Writes a claim and reads the log back to it: won if it is the first live claim of the key.
    /// `status` (the request's PENDING) goes with it, to count wherever the claim wins.
    fn claim<'a>(
        &'a self,
        key: &'a str,
        claim: KeyClaim,
        status: Option<SendStatus>,
    ) -> BoxFuture<'a, Result<Claimed, AppError>>;

    /// Records the winner's final answer, with `status` (its final status) if given; resolves
    /// once every replica can read it.
    fn record<'a>(
        &'a self,
        key: &'a str,
        claim: &'a KeyClaim,
        answer: RecordedAnswer,
        status: Option<SendStatus>,
    ) -> BoxFuture<'a, Result<(), AppError>>;

    /// Gives a key up: its request recorded nothing (a refusal the caller may retry).
    fn release(&self, key: &str, request_id: Uuid);

    /// Waits up to `bound` for the key's answer; the entry as it stands then.
    fn wait_answer<'a>(&'a self, key: &'a str, bound: Duration) -> BoxFuture<'a, Option<KeyEntry>>;

    /// Whether the replica that holds a claim stopped (it will never record an answer).
    fn claimant_gone(&self, claim: &KeyClaim) -> bool;

    /// Wall-clock milliseconds up to which this log is known to be read whole: a claim's age is
    /// judged as of then (a log read late must not take a claim whose answer it has not read
    /// yet for abandoned). Now, for a log in this process's memory.
    fn verified_ms(&self) -> i64 {
        now_ms()
    }

    /// The replica making claims here.
    fn replica(&self) -> &str;
}

/// A claim of a plain sync send of event `e` by `replica`, made now (tests).
#[cfg(test)]
pub fn claim_for_test(replica: &str, takeover_of: Option<i64>) -> KeyClaim {
    KeyClaim {
        replica: replica.into(),
        request_id: Uuid::new_v4(),
        fingerprint: Fingerprint {
            mode: "plain".into(),
            event_id: "e".into(),
            topic: "t".into(),
            send_mode: "sync".into(),
            key: "e".into(),
            partition: None,
            content: None,
        },
        at_ms: now_ms(),
        takeover_of,
    }
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_scope_never_shows_the_token() {
        let s = scope(Some("s3cret-token"));
        assert!(s.starts_with("token-") && !s.contains("s3cret"), "{s}");
        assert_eq!(s, scope(Some("s3cret-token")));
        assert_ne!(s, scope(Some("other")));
        assert_eq!(scope(None), "anonymous");
    }
}
