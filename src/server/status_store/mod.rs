//! Where every send's status lives until it is read: bounded in count and age, so a million
//! async sends cannot grow memory without bound.
//!
//! The bound keeps its word: no status is evicted while the store holds fewer than its capacity;
//! when it is full, the oldest *finished* status (OK or ERROR) makes room. A PENDING status is
//! never evicted, by count or by age, since its send can still complete: if every status is
//! PENDING, [`StatusStore::insert`] refuses with [`StoreFull`] and the send is refused (503)
//! rather than an accepted one forgotten. Finished statuses expire `max_age` after their send.
//!
//! Statuses are sharded by request id; each lock is held for one map operation, never across an
//! await. A send takes its shard's lock and the short `recent` lock.

mod compact;
mod shard;

use crate::model::{DeliveryState, SendStatus};
use compact::CompactStatus;
use parking_lot::Mutex;
use shard::{Entry, Shard};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How many sends the "recent sends" list shows.
pub const RECENT_LIMIT: usize = 50;

/// Below this capacity the store is one shard.
const SHARDING_THRESHOLD: usize = 1024;
const SHARDS: usize = 16;

/// The outcome a delivery report brings.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivered {
    Ok { partition: i32, offset: i64 },
    Failed(String),
}

/// Every status kept is PENDING and the store is at its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the status store holds {capacity} sends, all still waiting for their delivery report")]
pub struct StoreFull {
    pub capacity: usize,
}

pub struct StatusStore {
    shards: Box<[Mutex<Shard>]>,
    capacity: usize,
    max_age: Duration,
    /// Statuses held, across shards: a slot is reserved before an insert.
    len: AtomicUsize,
    /// Creation order, shared by every shard, so "oldest" means the same everywhere.
    seq: AtomicU64,
    recent: Mutex<VecDeque<Uuid>>,
    evicted: AtomicU64,
    pending: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl StatusStore {
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        let capacity = capacity.max(1);
        let shards = if capacity < SHARDING_THRESHOLD { 1 } else { SHARDS };
        Self {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            capacity,
            max_age,
            len: AtomicUsize::new(0),
            seq: AtomicU64::new(0),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_LIMIT)),
            evicted: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn shard(&self, id: &Uuid) -> &Mutex<Shard> {
        &self.shards[(id.as_u128() % self.shards.len() as u128) as usize]
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records a send. Expired finished statuses go first; then, at capacity, the oldest
    /// finished status makes room. Refused only when every status kept is PENDING.
    pub fn insert(&self, status: SendStatus) -> Result<(), StoreFull> {
        self.insert_with(status, false)
    }

    /// A status another replica recorded: merged into the one kept (a late PENDING never undoes a
    /// final state), or inserted, past the capacity if every status kept is PENDING (another
    /// replica's accepted send is not this one's to refuse).
    pub fn upsert(&self, status: SendStatus) {
        let id = status.request_id;
        let merged = self.shard(&id).lock().update(&id, |s| s.merge(&status));
        match merged {
            Some((before, after)) => {
                if !before.is_terminal() && after.is_terminal() {
                    self.pending.fetch_sub(1, Ordering::Relaxed);
                }
            }
            None => {
                let _ = self.insert_with(status, true);
            }
        }
    }

    fn insert_with(&self, status: SendStatus, force: bool) -> Result<(), StoreFull> {
        let id = status.request_id;
        let now = Instant::now();
        let expired = self.shard(&id).lock().expire(now, self.max_age);
        self.forget(expired.len());
        match self.reserve_slot() {
            Ok(()) => {}
            Err(_) if force => {
                self.len.fetch_add(1, Ordering::Relaxed);
            }
            Err(full) => return Err(full),
        }
        let pending = !status.state.is_terminal();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let replaced = {
            let mut shard = self.shard(&id).lock();
            let replaced = shard.remove(&id);
            let status = CompactStatus::new(status, &shard.last, now);
            shard.last = shard::Shared { topic: Some(status.topic().clone()), owner: status.owner.clone() };
            shard.insert(id, Entry { seq, status });
            replaced
        };
        let was_there = replaced.is_some();
        if let Some(old) = replaced {
            // The same id again (a replayed record): it took its own slot back.
            self.len.fetch_sub(1, Ordering::Relaxed);
            if !old.status.state.is_terminal() {
                self.pending.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if pending {
            self.pending.fetch_add(1, Ordering::Relaxed);
        }
        let mut recent = self.recent.lock();
        if was_there {
            recent.retain(|r| *r != id);
        }
        if recent.len() == RECENT_LIMIT {
            recent.pop_back();
        }
        recent.push_front(id);
        Ok(())
    }

    /// Takes a free slot, or the slot of the oldest finished status.
    fn reserve_slot(&self) -> Result<(), StoreFull> {
        loop {
            let len = self.len.load(Ordering::Relaxed);
            if len < self.capacity {
                if self.len.compare_exchange(len, len + 1, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                    return Ok(());
                }
                continue;
            }
            match self.evict_oldest_finished() {
                // The evicted status's slot passes to the new one: `len` is unchanged.
                Some(evicted) => {
                    self.evicted.fetch_add(1, Ordering::Relaxed);
                    self.recent.lock().retain(|r| *r != evicted);
                    return Ok(());
                }
                None => return Err(StoreFull { capacity: self.capacity }),
            }
        }
    }

    /// The oldest finished status across shards, removed; `None` if every status is PENDING.
    /// Each lost race means another insert evicted one: the loop ends when none is left.
    fn evict_oldest_finished(&self) -> Option<Uuid> {
        loop {
            let oldest = self
                .shards
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.lock().oldest_finished().map(|seq| (seq, i)))
                .min()?;
            // Another insert may have taken it meanwhile: then look again.
            if let Some(evicted) = self.shards[oldest.1].lock().evict_oldest_finished(oldest.0) {
                return Some(evicted.id);
            }
        }
    }

    fn forget(&self, removed: usize) {
        if removed > 0 {
            self.len.fetch_sub(removed, Ordering::Relaxed);
            self.evicted.fetch_add(removed as u64, Ordering::Relaxed);
        }
    }

    /// Applies a delivery report, with the latency the producer measured from acceptance (the
    /// same figure the latency histogram gets). Returns false when the status is not kept.
    pub fn complete(&self, id: &Uuid, outcome: Delivered, latency: Duration) -> bool {
        let counter = match outcome {
            Delivered::Ok { .. } => &self.delivered,
            Delivered::Failed(_) => &self.failed,
        };
        let Some((before, _)) = self.shard(id).lock().update(id, |s| s.complete(outcome, latency)) else {
            return false;
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if !before.is_terminal() {
            self.pending.fetch_sub(1, Ordering::Relaxed);
        }
        true
    }

    /// Forgets a send that never reached the producer (e.g. its queue was full).
    pub fn remove(&self, id: &Uuid) {
        let removed = self.shard(id).lock().remove(id);
        if let Some(entry) = removed {
            self.len.fetch_sub(1, Ordering::Relaxed);
            if !entry.status.state.is_terminal() {
                self.pending.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.recent.lock().retain(|r| r != id);
    }

    pub fn get(&self, id: &Uuid) -> Option<SendStatus> {
        let shard = self.shard(id).lock();
        let entry = shard.map.get(id)?;
        let expired = entry.status.state.is_terminal() && entry.status.created.elapsed() >= self.max_age;
        (!expired).then(|| entry.status.to_status(*id))
    }

    /// The latest sends, newest first.
    pub fn recent(&self, limit: usize) -> Vec<SendStatus> {
        let ids: Vec<Uuid> = self.recent.lock().iter().take(limit).copied().collect();
        ids.iter().filter_map(|id| self.get(id)).collect()
    }

    /// Calls `f` with every status kept (for a lab run's own store, which holds its sends).
    pub fn for_each(&self, mut f: impl FnMut(&SendStatus)) {
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for (id, entry) in &shard.map {
                f(&entry.status.to_status(*id));
            }
        }
    }

    /// Marks UNKNOWN every PENDING status accepted by a replica `gone` says is gone, with the
    /// reason `reason` gives for it; returns how many.
    pub fn mark_unknown(&self, gone: impl Fn(&str) -> bool, reason: impl Fn(&str) -> String) -> u64 {
        let mut marked = 0;
        for shard in self.shards.iter() {
            marked += shard.lock().mark_unknown(&gone, &reason);
        }
        if marked > 0 {
            self.pending.fetch_sub(marked, Ordering::Relaxed);
        }
        marked
    }

    /// The PENDING sends that `owner` accepted.
    pub fn pending_ids_of(&self, owner: &str) -> Vec<Uuid> {
        let mut ids = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            ids.extend(
                shard
                    .map
                    .iter()
                    .filter(|(_, e)| {
                        e.status.state == DeliveryState::Pending && e.status.owner.as_deref() == Some(owner)
                    })
                    .map(|(id, _)| *id),
            );
        }
        ids
    }

    /// Request ids still waiting for their delivery report (for the shutdown log).
    pub fn pending_ids(&self) -> Vec<Uuid> {
        let mut ids = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            ids.extend(shard.map.iter().filter(|(_, e)| e.status.state == DeliveryState::Pending).map(|(id, _)| *id));
        }
        ids
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn pending_count(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Delivery reports applied since start: (acknowledged, failed).
    pub fn outcome_counts(&self) -> (u64, u64) {
        (self.delivered.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }

    pub fn evicted_count(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

/// A PENDING async send of `event` (its key) to topic `t` by the plain producer: the status the
/// tests of the status store, the tables and the state topic start from.
#[cfg(test)]
pub(crate) fn pending_for_test(event: &str) -> SendStatus {
    SendStatus {
        request_id: Uuid::new_v4(),
        state: DeliveryState::Pending,
        event_id: event.into(),
        mode: crate::model::ProducerMode::Plain,
        send_mode: crate::model::SendMode::Async,
        topic: "t".into(),
        key: event.into(),
        partition: None,
        offset: None,
        error: None,
        latency_ms: None,
        replica: None,
        record: None,
    }
}

#[cfg(test)]
mod tests;
