//! The async batches kept for `GET /api/v1/batches/{id}`: each record's request id, or why it
//! has none, for the last [`KEPT_BATCHES`] batches. The state topic carries a large batch in
//! several parts ([`BatchPart`]s of at most [`PART_BYTES`]), which may be read in any order: a
//! batch is answered once every part of it is in.

use crate::model::RecordError;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use uuid::Uuid;

/// Async batches kept.
pub const KEPT_BATCHES: usize = 100;
/// About the most one part's entries weigh in JSON, far under a Kafka record's 1 MB.
pub const PART_BYTES: usize = 256 * 1024;

/// One record of a batch: the request id its send got, or why it was not sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchEntry {
    Sent(Uuid),
    Refused(Box<RecordError>),
}

impl BatchEntry {
    /// About what the entry weighs in JSON.
    fn weight(&self) -> usize {
        match self {
            BatchEntry::Sent(_) => 40,
            BatchEntry::Refused(error) => 64 + error.message.len(),
        }
    }
}

/// A run of a batch's entries: `entries` are the batch's records `first..first + entries.len()`
/// of `total`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchPart {
    pub batch_id: Uuid,
    pub total: usize,
    pub first: usize,
    pub entries: Vec<BatchEntry>,
}

/// Cuts a batch's entries into parts of at most about [`PART_BYTES`] each (at least one part,
/// even for an empty batch).
pub fn into_parts(batch_id: Uuid, entries: Vec<BatchEntry>, part_bytes: usize) -> Vec<BatchPart> {
    let total = entries.len();
    let mut parts = Vec::new();
    let mut current = BatchPart { batch_id, total, first: 0, entries: Vec::new() };
    let mut weight = 0;
    for (index, entry) in entries.into_iter().enumerate() {
        if weight + entry.weight() > part_bytes && !current.entries.is_empty() {
            let next = BatchPart { batch_id, total, first: index, entries: Vec::new() };
            parts.push(std::mem::replace(&mut current, next));
            weight = 0;
        }
        weight += entry.weight();
        current.entries.push(entry);
    }
    parts.push(current);
    parts
}

/// The parts of one batch in hand, by their first index.
struct Parts {
    total: usize,
    parts: BTreeMap<usize, Vec<BatchEntry>>,
}

impl Parts {
    fn whole(&self) -> Option<Vec<BatchEntry>> {
        let held: usize = self.parts.values().map(Vec::len).sum();
        (held == self.total).then(|| self.parts.values().flatten().cloned().collect())
    }
}

/// The last [`KEPT_BATCHES`] batches, whole or in parts.
#[derive(Default)]
pub struct KeptBatches {
    batches: Mutex<VecDeque<(Uuid, Parts)>>,
}

impl KeptBatches {
    /// Adds a part (again: the same part read twice changes nothing).
    pub fn add(&self, part: BatchPart) {
        let mut batches = self.batches.lock();
        let index = match batches.iter().position(|(id, _)| *id == part.batch_id) {
            Some(index) => index,
            None => {
                if batches.len() == KEPT_BATCHES {
                    batches.pop_front();
                }
                batches.push_back((part.batch_id, Parts { total: part.total, parts: BTreeMap::new() }));
                batches.len() - 1
            }
        };
        if let Some((_, parts)) = batches.get_mut(index) {
            parts.parts.insert(part.first, part.entries);
        }
    }

    /// A batch's entries, in order, once every part of it is in.
    pub fn get(&self, id: &Uuid) -> Option<Vec<BatchEntry>> {
        self.batches.lock().iter().find(|(kept, _)| kept == id).and_then(|(_, parts)| parts.whole())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<BatchEntry> {
        (0..n)
            .map(|i| match i % 3 {
                0 => {
                    BatchEntry::Refused(Box::new(RecordError { status: 400, field: None, message: format!("bad {i}") }))
                }
                _ => BatchEntry::Sent(Uuid::new_v4()),
            })
            .collect()
    }

    #[test]
    fn a_batch_read_in_parts_in_any_order_is_answered_once_whole() {
        let (id, all) = (Uuid::new_v4(), entries(100));
        let mut parts = into_parts(id, all.clone(), 400);
        assert!(parts.len() > 5, "{} parts", parts.len());
        parts.reverse();
        let kept = KeptBatches::default();
        let last = parts.pop().expect("a part");
        for part in parts {
            kept.add(part.clone());
            kept.add(part);
            assert_eq!(kept.get(&id), None, "not whole yet");
        }
        kept.add(last);
        assert_eq!(kept.get(&id), Some(all));
    }

    #[test]
    fn parts_round_trip_through_json_and_stay_under_their_weight() {
        let part = into_parts(Uuid::new_v4(), entries(10_000), PART_BYTES).remove(0);
        let json = serde_json::to_vec(&part).expect("json");
        assert!(json.len() <= PART_BYTES, "{} bytes", json.len());
        assert_eq!(serde_json::from_slice::<BatchPart>(&json).expect("read"), part);
        let empty = into_parts(Uuid::new_v4(), Vec::new(), PART_BYTES);
        assert_eq!(empty.len(), 1, "an empty batch is one empty part");
    }

    #[test]
    fn only_the_last_batches_are_kept() {
        let kept = KeptBatches::default();
        let ids: Vec<Uuid> = (0..=KEPT_BATCHES).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            for part in into_parts(*id, entries(2), PART_BYTES) {
                kept.add(part);
            }
        }
        assert_eq!(kept.get(&ids[0]), None, "the oldest is gone");
        assert!(kept.get(&ids[KEPT_BATCHES]).is_some());
    }
}
