//! The idempotency keys' log: the state topic. A claim is a record keyed by the scoped key (so
//! every record of a key shares a partition) written and then read back: every replica applies
//! the same records in the same order, so the first claim of a key in the log wins everywhere.
//! The read-back does not wait for the follower: when nothing but this replica's own records lie
//! between where the follower stands and the claim, their key's records are known
//! ([`OwnRecords`](super::own_records::OwnRecords)); else the [`ClaimReader`] reads them. They are
//! replayed onto a copy of the key's entry (whichever of that and the follower gets there first
//! decides).
//! Answers and releases go the same way; this replica also applies its own answers at once, so
//! a repeat that reaches it is answered without waiting for the follower.

use super::catch_up::CatchUp;
use super::claim_reader::{ClaimReader, KeyRecords};
use super::follower::Progress;
use super::record::{key_record_key, KeyAnswerRecord, KeyClaimRecord, KeyReleaseRecord, StateRecord, StatusRecord};
use super::view::{apply_to_keys, StateView};
use super::writer::StateWriter;
use crate::error::AppError;
use crate::model::SendStatus;
use crate::server::idempotency::{Claimed, KeyClaim, KeyEntry, KeyLog, KeyTable, RecordedAnswer};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub struct SharedKeyLog {
    pub(super) writer: Arc<StateWriter>,
    pub(super) progress: Arc<Progress>,
    pub(super) view: Arc<StateView>,
    pub(super) replica: String,
    /// Bound on a write's acknowledgement, and on reading the log back to a claim.
    pub(super) bound: Duration,
    pub(super) catch_up: Arc<CatchUp>,
    /// How long [`KeyLog::settle`] may wait for the view to catch up.
    pub(super) catch_up_bound: Duration,
    pub(super) reader: Arc<ClaimReader>,
}

fn unavailable(why: &str) -> AppError {
    AppError::Unavailable {
        message: format!(
            "The Idempotency-Key could not be claimed in the state topic ({why}): nothing was sent; retry with the same \
             key"
        ),
    }
}

impl SharedKeyLog {
    /// Writes a record and waits for its acknowledgement: where it sits.
    async fn write_acked(&self, record: &StateRecord) -> Result<(i32, i64), String> {
        let Some(ack) = self.writer.write(record, None, true) else {
            return Err("the state writer refused the record".into());
        };
        match tokio::time::timeout(self.bound, ack).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the state writer stopped before it answered".into()),
            Err(_) => Err(format!("no acknowledgement within {:?}", self.bound)),
        }
    }

    /// The verdict on the claim at `at` when nothing but this replica's own records lie between
    /// where the follower stands and the claim: their key's records are known, nothing is read.
    fn decide_from_own_records(&self, key: &str, id: Uuid, at: (i32, i64)) -> Option<Option<Claimed>> {
        let (partition, claim_offset) = at;
        // Where the follower stands first, then the entry: the copy holds at least that much.
        let applied = self.progress.position(partition);
        let scratch = self.view.keys.scratch_for(key);
        let own = &self.writer.counters().own;
        let records = own.read(partition, applied + 1, claim_offset, &key_record_key(key))?;
        verdict_from(&scratch, records, key, id, claim_offset).inspect(|_| {
            own.decided.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// The verdict on the claim at `at`, from the key's entry as the follower left it and the
    /// key's records read from there to the claim (`None` when they could not be read: the
    /// follower decides then).
    async fn read_back(&self, key: &str, id: Uuid, at: (i32, i64)) -> Option<Option<Claimed>> {
        let (partition, claim_offset) = at;
        let applied = self.progress.position(partition);
        let scratch = self.view.keys.scratch_for(key);
        let records = self.reader.read(partition, applied + 1, claim_offset, key_record_key(key)).await?;
        verdict_from(&scratch, records, key, id, claim_offset).inspect(|_| {
            self.reader.decided.fetch_add(1, Ordering::Relaxed);
        })
    }
}

/// The verdict on claim `id` at `claim_offset`: `records` (the key's, from where the follower
/// stood when `scratch` was copied from the view, up to the claim) replayed onto the copy. Every
/// record the follower had not applied when the entry was copied is replayed; replaying one it
/// had applied since changes nothing (a claim, answer or release acts only on the claim it
/// names). `None` when the claim is not the last of them, where its acknowledgement put it (the
/// follower decides then).
fn verdict_from(
    scratch: &KeyTable,
    records: KeyRecords,
    key: &str,
    id: Uuid,
    claim_offset: i64,
) -> Option<Option<Claimed>> {
    let (_, last) = records.last().filter(|(offset, _)| *offset == claim_offset)?;
    if !matches!(last, StateRecord::Claim(c) if c.claim.request_id == id) {
        return None;
    }
    for (offset, record) in records {
        apply_to_keys(scratch, record, offset);
    }
    Some(scratch.verdict(key, id))
}

impl KeyLog for SharedKeyLog {
    fn lookup(&self, key: &str) -> Option<KeyEntry> {
        self.view.keys.get(key)
    }

    fn settle<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<KeyEntry>> {
        async move {
            // Best effort: whatever the view holds, the claim that may follow is arbitrated by
            // the log itself.
            let _ = self.catch_up.until_now(self.catch_up_bound).await;
            self.view.keys.get(key)
        }
        .boxed()
    }

    fn claim<'a>(
        &'a self,
        key: &'a str,
        claim: KeyClaim,
        status: Option<SendStatus>,
    ) -> BoxFuture<'a, Result<Claimed, AppError>> {
        async move {
            let id = claim.request_id;
            let status = status.as_ref().map(StatusRecord::of);
            let record = StateRecord::Claim(KeyClaimRecord { key: key.to_owned(), claim, status });
            let at = self.write_acked(&record).await.map_err(|why| unavailable(&why))?;
            if let Some(verdict) = self.decide_from_own_records(key, id, at) {
                return verdict.ok_or_else(|| unavailable("the claim was not found where it was written"));
            }
            let read_back = self.read_back(key, id, at);
            let target = [at];
            let followed = self.progress.wait_until(&target, self.bound);
            tokio::pin!(read_back, followed);
            let verdict = tokio::select! {
                Some(verdict) = &mut read_back => Some(verdict),
                reached = &mut followed => reached.then(|| self.view.keys.verdict(key, id)),
            };
            let Some(verdict) = verdict else {
                self.release(key, id);
                return Err(unavailable("the log was not read back to the claim in time"));
            };
            verdict.ok_or_else(|| unavailable("the claim was not found where it was written"))
        }
        .boxed()
    }

    fn record<'a>(
        &'a self,
        key: &'a str,
        claim: &'a KeyClaim,
        answer: RecordedAnswer,
        status: Option<SendStatus>,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        async move {
            self.view.keys.apply_answer(key, claim, answer.clone(), -1);
            let (key, claim, status) = (key.to_owned(), claim.clone(), status.as_ref().map(StatusRecord::of));
            let record = StateRecord::Answer(KeyAnswerRecord { key, claim, answer, status });
            self.write_acked(&record).await.map(|_| ()).map_err(|why| AppError::Unavailable {
                message: format!("the answer could not be recorded in the state topic: {why}"),
            })
        }
        .boxed()
    }

    fn release(&self, key: &str, request_id: Uuid) {
        self.view.keys.apply_release(key, request_id);
        let record = StateRecord::Release(KeyReleaseRecord { key: key.to_owned(), request_id });
        let _ = self.writer.write(&record, None, false);
    }

    fn wait_answer<'a>(&'a self, key: &'a str, bound: Duration) -> BoxFuture<'a, Option<KeyEntry>> {
        async move {
            let _awake = self.progress.awake();
            self.view.keys.wait_answer(key, bound).await
        }
        .boxed()
    }

    fn claimant_gone(&self, claim: &KeyClaim) -> bool {
        claim.replica != self.replica && self.view.replicas.is_gone(&claim.replica)
    }

    fn verified_ms(&self) -> i64 {
        self.view.replicas.verified_ms()
    }

    fn replica(&self) -> &str {
        &self.replica
    }
}
