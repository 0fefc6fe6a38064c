//! A key log in this process's memory: a lab run's keyed sends, and tests that make no claim
//! about Kafka. Its "log" is a counter: a claim is applied at once, so the first claim wins.

use super::{Claimed, KeyClaim, KeyEntry, KeyLog, KeyTable, RecordedAnswer};
use crate::error::AppError;
use crate::model::SendStatus;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use uuid::Uuid;

pub struct LocalKeyLog {
    table: KeyTable,
    next_offset: AtomicI64,
}

impl LocalKeyLog {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self { table: KeyTable::new(ttl, capacity), next_offset: AtomicI64::new(0) }
    }

    fn offset(&self) -> i64 {
        self.next_offset.fetch_add(1, Ordering::Relaxed)
    }
}

impl KeyLog for LocalKeyLog {
    fn lookup(&self, key: &str) -> Option<KeyEntry> {
        self.table.get(key)
    }

    fn settle<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<KeyEntry>> {
        let entry = self.table.get(key);
        async move { entry }.boxed()
    }

    /// The status goes nowhere: this process's status table holds it already.
    fn claim<'a>(
        &'a self,
        key: &'a str,
        claim: KeyClaim,
        _status: Option<SendStatus>,
    ) -> BoxFuture<'a, Result<Claimed, AppError>> {
        let id = claim.request_id;
        self.table.apply_claim(key, claim, self.offset());
        let result =
            self.table.verdict(key, id).ok_or_else(|| AppError::internal("the key's claim vanished as it was made"));
        async move { result }.boxed()
    }

    fn record<'a>(
        &'a self,
        key: &'a str,
        claim: &'a KeyClaim,
        answer: RecordedAnswer,
        _status: Option<SendStatus>,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        self.table.apply_answer(key, claim, answer, self.offset());
        async { Ok(()) }.boxed()
    }

    fn release(&self, key: &str, request_id: Uuid) {
        self.table.apply_release(key, request_id);
    }

    fn wait_answer<'a>(&'a self, key: &'a str, bound: Duration) -> BoxFuture<'a, Option<KeyEntry>> {
        self.table.wait_answer(key, bound).boxed()
    }

    fn claimant_gone(&self, _claim: &KeyClaim) -> bool {
        false
    }

    fn replica(&self) -> &str {
        "local"
    }
}
