//! What a replica knows of the idempotency keys: for each, its winning claim, where that claim
//! sits in the log, and its answer once recorded. Every replica applies the same log in the same
//! order, so every replica names the same winner. Entries expire a TTL after the key was first
//! claimed; the table is bounded (expired entries go first, then the oldest answered ones).

use super::{now_ms, Claimed, KeyClaim, KeyEntry, RecordedAnswer};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

pub struct KeyTable {
    entries: Mutex<HashMap<String, KeyEntry>>,
    changed: Notify,
    ttl_ms: i64,
    capacity: usize,
}

impl KeyTable {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            capacity: capacity.max(1),
        }
    }

    fn live(&self, entry: &KeyEntry, now: i64) -> bool {
        now.saturating_sub(entry.since_ms) < self.ttl_ms
    }

    /// The key's entry, unless it expired.
    pub fn get(&self, key: &str) -> Option<KeyEntry> {
        let now = now_ms();
        self.entries.lock().get(key).filter(|e| self.live(e, now)).cloned()
    }

    /// Whether the claim with `request_id` is the key's winning one: `Won`, `Lost` with the
    /// entry that won, or `None` when the key has no entry.
    pub fn verdict(&self, key: &str, request_id: Uuid) -> Option<Claimed> {
        self.get(key).map(|entry| {
            if entry.claim.request_id == request_id {
                Claimed::Won
            } else {
                Claimed::Lost(Box::new(entry))
            }
        })
    }

    /// A table of its own holding only `key`'s entry as it stands (a claimer replays what it
    /// read of the log onto it, leaving this one to the follower).
    pub fn scratch_for(&self, key: &str) -> KeyTable {
        let scratch = KeyTable { entries: Mutex::new(HashMap::new()), changed: Notify::new(), ..*self };
        if let Some(entry) = self.entries.lock().get(key) {
            scratch.entries.lock().insert(key.to_owned(), entry.clone());
        }
        scratch
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A claim found at `offset` in the log. The first live claim of a key wins; a takeover
    /// replaces the claim it names, if that one is still the key's and has no answer.
    pub fn apply_claim(&self, key: &str, claim: KeyClaim, offset: i64) {
        let now = now_ms();
        let mut entries = self.entries.lock();
        let since_ms = match entries.get(key).filter(|e| self.live(e, now)) {
            None => claim.at_ms,
            Some(held) if held.answer.is_none() && claim.takeover_of == Some(held.offset) => held.since_ms,
            Some(_) => return,
        };
        entries.insert(key.to_owned(), KeyEntry { claim, offset, answer: None, since_ms });
        self.bound(&mut entries, now);
        drop(entries);
        self.changed.notify_waiters();
    }

    /// A recorded answer. It counts only for the claim that holds the key (a claim taken over
    /// answers nothing); with no entry at all (the log was compacted down to its answer), the
    /// answer brings its claim back.
    pub fn apply_answer(&self, key: &str, claim: &KeyClaim, answer: RecordedAnswer, offset: i64) {
        let now = now_ms();
        let mut entries = self.entries.lock();
        match entries.get_mut(key).filter(|e| now.saturating_sub(e.since_ms) < self.ttl_ms) {
            Some(held) if held.claim.request_id == claim.request_id => held.answer = Some(answer),
            Some(_) => return,
            None => {
                let entry = KeyEntry { claim: claim.clone(), offset, answer: Some(answer), since_ms: claim.at_ms };
                if self.live(&entry, now) {
                    entries.insert(key.to_owned(), entry);
                    self.bound(&mut entries, now);
                }
            }
        }
        drop(entries);
        self.changed.notify_waiters();
    }

    /// The holder gave the key up (its request recorded nothing): the next claim wins.
    pub fn apply_release(&self, key: &str, request_id: Uuid) {
        let mut entries = self.entries.lock();
        if entries.get(key).is_some_and(|e| e.claim.request_id == request_id && e.answer.is_none()) {
            entries.remove(key);
        }
        drop(entries);
        self.changed.notify_waiters();
    }

    /// Waits up to `bound` until the key is answered or released; the entry as it stands then.
    pub async fn wait_answer(&self, key: &str, bound: Duration) -> Option<KeyEntry> {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.get(key) {
                Some(entry) if entry.answer.is_none() => {}
                other => return other,
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.get(key);
            }
        }
    }

    /// Over capacity: expired entries go, then the oldest answered ones (a tenth at a time).
    fn bound(&self, entries: &mut HashMap<String, KeyEntry>, now: i64) {
        if entries.len() <= self.capacity {
            return;
        }
        entries.retain(|_, e| now.saturating_sub(e.since_ms) < self.ttl_ms);
        if entries.len() <= self.capacity {
            return;
        }
        let mut answered: Vec<(i64, String)> =
            entries.iter().filter(|(_, e)| e.answer.is_some()).map(|(k, e)| (e.since_ms, k.clone())).collect();
        answered.sort_unstable();
        let excess = entries.len() - self.capacity + self.capacity / 10;
        for (_, key) in answered.into_iter().take(excess) {
            entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    use super::super::claim_for_test as claim;

    fn failed() -> RecordedAnswer {
        RecordedAnswer::Failed(AppError::broker("x"))
    }

    #[test]
    fn the_first_claim_in_the_log_wins() {
        let table = KeyTable::new(Duration::from_secs(60), 10);
        let (a, b) = (claim("a", None), claim("b", None));
        table.apply_claim("k", a.clone(), 1);
        table.apply_claim("k", b.clone(), 2);
        assert_eq!(table.get("k").map(|e| e.claim.request_id), Some(a.request_id));
        // An answer of the loser changes nothing; the winner's is kept.
        table.apply_answer("k", &b, failed(), 3);
        assert_eq!(table.get("k").and_then(|e| e.answer), None);
        table.apply_answer("k", &a, failed(), 4);
        assert!(table.get("k").is_some_and(|e| e.answer.is_some()));
    }

    #[test]
    fn a_takeover_replaces_only_the_unanswered_claim_it_names() {
        let table = KeyTable::new(Duration::from_secs(60), 10);
        table.apply_claim("k", claim("a", None), 7);
        table.apply_claim("k", claim("b", Some(6)), 8);
        assert_eq!(table.get("k").map(|e| e.offset), Some(7), "names another claim");
        let takeover = claim("b", Some(7));
        table.apply_claim("k", takeover.clone(), 9);
        assert_eq!(table.get("k").map(|e| e.claim.request_id), Some(takeover.request_id));
        table.apply_answer("k", &takeover, failed(), 10);
        table.apply_claim("k", claim("c", Some(9)), 11);
        assert_eq!(table.get("k").map(|e| e.offset), Some(9), "an answered claim is never taken over");
    }

    #[test]
    fn a_release_frees_the_key_and_expired_keys_are_gone() {
        let table = KeyTable::new(Duration::from_secs(60), 10);
        let a = claim("a", None);
        table.apply_claim("k", a.clone(), 1);
        table.apply_release("k", a.request_id);
        assert!(table.get("k").is_none());
        let mut old = claim("a", None);
        old.at_ms -= 61_000;
        table.apply_claim("old", old, 2);
        assert!(table.get("old").is_none(), "past the TTL");
        let fresh = claim("b", None);
        table.apply_claim("old", fresh.clone(), 3);
        assert_eq!(table.get("old").map(|e| e.claim.request_id), Some(fresh.request_id));
    }

    /// A claimer copies the key's entry as the follower left it (at some point at or after where
    /// it read from) and replays the log from there: records the copy already holds change
    /// nothing, so every copy reaches the verdict of the whole log.
    #[test]
    fn replaying_the_log_onto_a_copy_taken_at_any_point_gives_one_verdict() {
        let (a, b, c) = (claim("a", None), claim("b", None), claim("c", None));
        enum Step {
            Claim(KeyClaim),
            Release(Uuid),
            Answer(KeyClaim),
        }
        let log = [
            Step::Claim(a.clone()),
            Step::Release(a.request_id),
            Step::Claim(b.clone()),
            Step::Answer(b.clone()),
            Step::Claim(c.clone()),
        ];
        let apply = |table: &KeyTable, steps: &[Step]| {
            for (offset, step) in steps.iter().enumerate() {
                match step {
                    Step::Claim(k) => table.apply_claim("k", k.clone(), offset as i64),
                    Step::Release(id) => table.apply_release("k", *id),
                    Step::Answer(k) => table.apply_answer("k", k, failed(), offset as i64),
                }
            }
        };
        for copied_at in 0..=log.len() {
            let follower = KeyTable::new(Duration::from_secs(60), 10);
            apply(&follower, &log[..copied_at]);
            let scratch = follower.scratch_for("k");
            apply(&scratch, &log);
            let verdict = scratch.verdict("k", c.request_id);
            let winner = match verdict {
                Some(Claimed::Lost(entry)) => entry.claim.request_id,
                other => panic!("copied after {copied_at} records: {other:?}"),
            };
            assert_eq!(winner, b.request_id, "copied after {copied_at} records");
            assert!(scratch.get("k").is_some_and(|e| e.answer.is_some()), "the answer is kept");
        }
    }

    #[test]
    fn the_table_keeps_its_bound() {
        let table = KeyTable::new(Duration::from_secs(60), 100);
        for i in 0..1000 {
            let c = claim("a", None);
            table.apply_claim(&format!("k{i}"), c.clone(), i);
            table.apply_answer(&format!("k{i}"), &c, failed(), i);
        }
        assert!(table.len() <= 100, "{}", table.len());
        assert!(table.get("k999").is_some(), "the newest stays");
    }

    #[tokio::test]
    async fn a_waiter_wakes_on_the_answer() {
        let table = std::sync::Arc::new(KeyTable::new(Duration::from_secs(60), 10));
        let a = claim("a", None);
        table.apply_claim("k", a.clone(), 1);
        let waiter = tokio::spawn({
            let table = table.clone();
            async move { table.wait_answer("k", Duration::from_secs(5)).await }
        });
        tokio::task::yield_now().await;
        table.apply_answer("k", &a, failed(), 2);
        let got = waiter.await.expect("joined");
        assert!(got.is_some_and(|e| e.answer.is_some()));
    }
}
