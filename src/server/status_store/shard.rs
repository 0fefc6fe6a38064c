//! One shard of the status store: its statuses, and the finished ones in creation order, so the
//! oldest finished status is found in O(log n) and a PENDING one is never a candidate.

use super::compact::CompactStatus;
use crate::model::DeliveryState;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A status and its place in the store's creation order.
pub(super) struct Entry {
    pub(super) seq: u64,
    pub(super) status: CompactStatus,
}

#[derive(Default)]
pub(super) struct Shard {
    pub(super) map: HashMap<Uuid, Entry>,
    /// Finished statuses (OK, ERROR) by creation sequence: the eviction candidates.
    finished: BTreeMap<u64, Uuid>,
    /// The names of the last insert, shared with the next status that has the same.
    pub(super) last: Shared,
}

/// Names shared between consecutive statuses (most share their topic and replica).
#[derive(Default)]
pub(super) struct Shared {
    pub(super) topic: Option<Arc<str>>,
    pub(super) owner: Option<Arc<str>>,
}

/// What a shard gave up to make room.
pub(super) struct Evicted {
    pub(super) id: Uuid,
}

impl Shard {
    /// The creation sequence of this shard's oldest finished status.
    pub(super) fn oldest_finished(&self) -> Option<u64> {
        self.finished.first_key_value().map(|(seq, _)| *seq)
    }

    /// Removes the oldest finished status if its sequence is still `seq`.
    pub(super) fn evict_oldest_finished(&mut self, seq: u64) -> Option<Evicted> {
        if self.oldest_finished() != Some(seq) {
            return None;
        }
        let (_, id) = self.finished.pop_first()?;
        self.map.remove(&id);
        Some(Evicted { id })
    }

    /// Removes finished statuses created more than `max_age` ago; returns their ids.
    pub(super) fn expire(&mut self, now: Instant, max_age: Duration) -> Vec<Uuid> {
        let mut gone = Vec::new();
        while let Some((&seq, &id)) = self.finished.first_key_value() {
            let expired = self.map.get(&id).is_none_or(|e| now.duration_since(e.status.created) >= max_age);
            if !expired {
                break;
            }
            self.finished.remove(&seq);
            self.map.remove(&id);
            gone.push(id);
        }
        gone
    }

    pub(super) fn insert(&mut self, id: Uuid, entry: Entry) {
        if entry.status.state.is_terminal() {
            self.finished.insert(entry.seq, id);
        }
        if let Some(old) = self.map.insert(id, entry) {
            self.finished.remove(&old.seq);
        }
    }

    /// Applies `update` to a status; keeps the finished index in step. Returns the state the
    /// status had before and after, or `None` if it is not here.
    pub(super) fn update(
        &mut self,
        id: &Uuid,
        update: impl FnOnce(&mut CompactStatus),
    ) -> Option<(DeliveryState, DeliveryState)> {
        let entry = self.map.get_mut(id)?;
        let before = entry.status.state;
        update(&mut entry.status);
        let after = entry.status.state;
        match (before.is_terminal(), after.is_terminal()) {
            (false, true) => {
                self.finished.insert(entry.seq, *id);
            }
            (true, false) => {
                self.finished.remove(&entry.seq);
            }
            _ => {}
        }
        Some((before, after))
    }

    /// Marks UNKNOWN the PENDING statuses whose replica `gone` says is gone; returns how many.
    pub(super) fn mark_unknown(&mut self, gone: &dyn Fn(&str) -> bool, reason: &dyn Fn(&str) -> String) -> u64 {
        let mut marked = Vec::new();
        for (id, entry) in &mut self.map {
            let owner = entry.status.owner.clone();
            if let (DeliveryState::Pending, Some(owner)) = (entry.status.state, owner) {
                if gone(&owner) {
                    entry.status.mark_unknown(reason(&owner));
                    marked.push((entry.seq, *id));
                }
            }
        }
        let count = marked.len() as u64;
        self.finished.extend(marked);
        count
    }

    pub(super) fn remove(&mut self, id: &Uuid) -> Option<Entry> {
        let entry = self.map.remove(id)?;
        self.finished.remove(&entry.seq);
        Some(entry)
    }
}
