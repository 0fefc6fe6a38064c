//! Where every send's status lives until it is read: bounded in count and age, so a million
//! async sends cannot grow memory without bound. The oldest entries are evicted first.
//!
//! The store is the only shared mutable state on the hot path: it is sharded, and no lock is
//! held for more than a map operation (never across an await).

mod compact;

use crate::model::{DeliveryState, SendStatus};
use compact::CompactStatus;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How many sends the "recent sends" list shows.
pub const RECENT_LIMIT: usize = 50;

/// Below this capacity the store is one shard, so eviction is exactly oldest-first; above it,
/// oldest-first holds within each of the shards (request ids are random, so shards fill evenly).
const SHARDING_THRESHOLD: usize = 1024;
const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    map: HashMap<Uuid, CompactStatus>,
    order: VecDeque<(Uuid, Instant)>,
}

/// The outcome a delivery report brings.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivered {
    Ok { partition: i32, offset: i64 },
    Failed(String),
}

pub struct StatusStore {
    shards: Box<[Mutex<Shard>]>,
    shard_capacity: usize,
    max_age: Duration,
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
            shard_capacity: capacity.div_ceil(shards),
            max_age,
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

    /// Records a new send; evicts what is past the count or age bound to make room.
    pub fn insert(&self, status: SendStatus) {
        let id = status.request_id;
        let now = Instant::now();
        let pending = status.state == DeliveryState::Pending;
        let mut evicted_pending = 0;
        let mut evicted = 0;
        {
            let mut shard = self.shard(&id).lock();
            while let Some(&(old_id, created)) = shard.order.front() {
                let full = shard.order.len() >= self.shard_capacity;
                if !full && now.duration_since(created) < self.max_age {
                    break;
                }
                shard.order.pop_front();
                if let Some(old) = shard.map.remove(&old_id) {
                    evicted += 1;
                    if old.state == DeliveryState::Pending {
                        evicted_pending += 1;
                    }
                }
            }
            let last_topic = shard.order.back().and_then(|(last, _)| shard.map.get(last)).map(|e| e.topic().clone());
            shard.order.push_back((id, now));
            shard.map.insert(id, CompactStatus::new(status, last_topic.as_ref(), now));
        }
        if pending {
            self.pending.fetch_add(1, Ordering::Relaxed);
        }
        if evicted_pending > 0 {
            self.pending.fetch_sub(evicted_pending, Ordering::Relaxed);
        }
        if evicted > 0 {
            self.evicted.fetch_add(evicted, Ordering::Relaxed);
        }
        let mut recent = self.recent.lock();
        if recent.len() == RECENT_LIMIT {
            recent.pop_back();
        }
        recent.push_front(id);
    }

    /// Applies a delivery report, with the latency the producer measured from acceptance (the
    /// same figure the latency histogram gets). Returns false when the status was already evicted.
    pub fn complete(&self, id: &Uuid, outcome: Delivered, latency: Duration) -> bool {
        let counter = match outcome {
            Delivered::Ok { .. } => &self.delivered,
            Delivered::Failed(_) => &self.failed,
        };
        let was_pending = {
            let mut shard = self.shard(id).lock();
            let Some(entry) = shard.map.get_mut(id) else {
                return false;
            };
            let was_pending = entry.state == DeliveryState::Pending;
            entry.complete(outcome, latency);
            was_pending
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if was_pending {
            self.pending.fetch_sub(1, Ordering::Relaxed);
        }
        true
    }

    /// Forgets a send that never reached the producer (e.g. its queue was full).
    pub fn remove(&self, id: &Uuid) {
        let removed = self.shard(id).lock().map.remove(id);
        if removed.is_some_and(|e| e.state == DeliveryState::Pending) {
            self.pending.fetch_sub(1, Ordering::Relaxed);
        }
        self.recent.lock().retain(|r| r != id);
    }

    pub fn get(&self, id: &Uuid) -> Option<SendStatus> {
        let shard = self.shard(id).lock();
        shard.map.get(id).filter(|e| e.created.elapsed() < self.max_age).map(|e| e.to_status(*id))
    }

    /// The latest sends, newest first.
    pub fn recent(&self, limit: usize) -> Vec<SendStatus> {
        let ids: Vec<Uuid> = self.recent.lock().iter().take(limit).copied().collect();
        ids.iter().filter_map(|id| self.get(id)).collect()
    }

    /// Every status kept (for a lab run's own store, which holds exactly its sends).
    pub fn snapshot(&self) -> Vec<SendStatus> {
        self.shards
            .iter()
            .flat_map(|s| s.lock().map.iter().map(|(id, e)| e.to_status(*id)).collect::<Vec<_>>())
            .collect()
    }

    /// Request ids still waiting for their delivery report (for the shutdown log).
    pub fn pending_ids(&self) -> Vec<Uuid> {
        let mut ids = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            ids.extend(shard.map.iter().filter(|(_, e)| e.state == DeliveryState::Pending).map(|(id, _)| *id));
        }
        ids
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ProducerMode, SendMode};

    fn pending(event: &str) -> SendStatus {
        SendStatus {
            request_id: Uuid::new_v4(),
            state: DeliveryState::Pending,
            event_id: event.into(),
            mode: ProducerMode::Plain,
            send_mode: SendMode::Async,
            topic: "t".into(),
            key: event.into(),
            partition: None,
            offset: None,
            error: None,
            latency_ms: None,
        }
    }

    #[test]
    fn pending_becomes_ok_with_partition_and_offset() {
        let store = StatusStore::new(10, Duration::from_secs(60));
        let s = pending("e");
        let id = s.request_id;
        store.insert(s);
        assert_eq!(store.pending_count(), 1);
        assert!(store.complete(&id, Delivered::Ok { partition: 2, offset: 7 }, Duration::from_millis(3)));
        let got = store.get(&id).unwrap();
        assert_eq!((got.state, got.partition, got.offset), (DeliveryState::Ok, Some(2), Some(7)));
        assert!(got.latency_ms.is_some());
        assert_eq!(store.pending_count(), 0);
    }

    #[test]
    fn failure_records_the_error() {
        let store = StatusStore::new(10, Duration::from_secs(60));
        let s = pending("e");
        let id = s.request_id;
        store.insert(s);
        store.complete(&id, Delivered::Failed("Broker: timed out".into()), Duration::from_millis(3));
        let got = store.get(&id).unwrap();
        assert_eq!(got.state, DeliveryState::Error);
        assert_eq!(got.error.as_deref(), Some("Broker: timed out"));
    }

    #[test]
    fn capacity_evicts_the_oldest_first() {
        let store = StatusStore::new(3, Duration::from_secs(60));
        let ids: Vec<Uuid> = (0..5)
            .map(|i| {
                let s = pending(&i.to_string());
                let id = s.request_id;
                store.insert(s);
                id
            })
            .collect();
        assert_eq!(store.len(), 3);
        assert!(store.get(&ids[0]).is_none() && store.get(&ids[1]).is_none());
        assert!(ids[2..].iter().all(|id| store.get(id).is_some()));
        assert_eq!(store.evicted_count(), 2);
        assert_eq!(store.pending_count(), 3);
    }

    #[test]
    fn large_stores_stay_within_capacity() {
        let store = StatusStore::new(5000, Duration::from_secs(60));
        for i in 0..50_000 {
            store.insert(pending(&i.to_string()));
        }
        assert!(store.len() <= 5000 + SHARDS, "len {}", store.len());
        assert!(store.len() >= 4500);
    }

    #[test]
    fn entries_past_max_age_are_gone() {
        let store = StatusStore::new(10, Duration::ZERO);
        let s = pending("e");
        let id = s.request_id;
        store.insert(s);
        assert!(store.get(&id).is_none());
        store.insert(pending("f"));
        assert_eq!(store.len(), 1, "the expired entry was evicted on insert");
    }

    #[test]
    fn recent_lists_newest_first_and_is_bounded() {
        let store = StatusStore::new(1000, Duration::from_secs(60));
        for i in 0..(RECENT_LIMIT + 10) {
            store.insert(pending(&i.to_string()));
        }
        let recent = store.recent(RECENT_LIMIT);
        assert_eq!(recent.len(), RECENT_LIMIT);
        assert_eq!(recent[0].event_id, (RECENT_LIMIT + 9).to_string());
        assert_eq!(recent[RECENT_LIMIT - 1].event_id, "10");
    }

    #[test]
    fn removed_sends_disappear_everywhere() {
        let store = StatusStore::new(10, Duration::from_secs(60));
        let s = pending("e");
        let id = s.request_id;
        store.insert(s);
        store.remove(&id);
        assert!(store.get(&id).is_none());
        assert!(store.recent(10).is_empty());
        assert_eq!(store.pending_count(), 0);
    }
}
