//! What this replica's writer put in the log and where, between where the follower stands and the
//! newest acknowledgement: each record's key (and an idempotency key's record whole), noted from
//! the broker's acknowledgements. A claim whose partition holds nothing but this replica's own
//! records from where the follower stands up to the claim needs no read-back: offsets are dense
//! in a partition, so no other replica's record can be in between, and the records of its key
//! there are known ([`OwnRecords::read`]). Anything not known (a write that failed and may have
//! landed, a topic created anew, a record evicted past the bound) leaves a gap, and the claim is
//! read back as before. The follower checks each record it applies against what was noted at its
//! offset ([`OwnRecords::confirm`]): one mismatch (a broker that acknowledged an offset where it
//! did not put the record) and nothing is decided from here again.

use super::claim_reader::KeyRecords;
use super::record::StateRecord;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Records noted per partition at most; past it the older half is forgotten (a gap).
const MAX_NOTED: usize = 32_768;

/// One acknowledged record of this replica: its key (and a hash of it, compared first: a claim
/// looks through every record noted since the follower's position), and the record if it is an
/// idempotency key's (a claim, an answer, a release).
struct Noted {
    key: Box<str>,
    key_hash: u64,
    keyed: Option<Box<StateRecord>>,
}

fn key_hash(key: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(key)
}

#[derive(Default)]
struct PartitionNotes {
    /// Runs of consecutive offsets in `noted`: start -> end (inclusive), so that a span is checked
    /// without walking it.
    runs: BTreeMap<i64, i64>,
    noted: BTreeMap<i64, Noted>,
}

impl PartitionNotes {
    fn insert(&mut self, offset: i64, noted: Noted) {
        let before = self.runs.range(..offset).next_back().filter(|(_, end)| **end == offset - 1).map(|(s, _)| *s);
        let after = self.runs.remove(&(offset + 1));
        let start = before.unwrap_or(offset);
        self.runs.insert(start, after.unwrap_or(offset));
        self.noted.insert(offset, noted);
        if self.noted.len() > MAX_NOTED {
            let middle = self.noted.keys().nth(MAX_NOTED / 2).copied().unwrap_or(offset);
            self.forget_below(middle);
        }
    }

    /// Forgets every offset below `offset` (the follower applied them, or they were evicted).
    fn forget_below(&mut self, offset: i64) {
        if self.runs.first_key_value().is_none_or(|(start, _)| *start >= offset) {
            return;
        }
        self.noted = self.noted.split_off(&offset);
        let kept = self.runs.split_off(&offset);
        let straddling = self.runs.pop_last().filter(|(_, end)| *end >= offset);
        self.runs = kept;
        if let Some((_, end)) = straddling {
            self.runs.insert(offset, end);
        }
    }

    fn covers(&self, from: i64, to: i64) -> bool {
        self.runs.range(..=from).next_back().is_some_and(|(_, end)| *end >= to)
    }
}

/// This replica's own records, per partition slot (see the module's map).
pub struct OwnRecords {
    partitions: Vec<parking_lot::Mutex<PartitionNotes>>,
    /// Bumped when the topic is created anew: acknowledgements of writes made before are dropped.
    generation: AtomicU64,
    /// A noted offset did not hold what was noted: nothing is decided from here any more.
    untrusted: AtomicBool,
    /// Claims decided from this replica's own records, without a read-back.
    pub decided: AtomicU64,
}

impl Default for OwnRecords {
    fn default() -> Self {
        Self::new(0)
    }
}

impl OwnRecords {
    pub fn new(slots: usize) -> Self {
        Self {
            partitions: (0..slots).map(|_| parking_lot::Mutex::new(PartitionNotes::default())).collect(),
            generation: AtomicU64::new(0),
            untrusted: AtomicBool::new(false),
            decided: AtomicU64::new(0),
        }
    }

    fn partition(&self, partition: i32) -> Option<&parking_lot::Mutex<PartitionNotes>> {
        usize::try_from(partition).ok().and_then(|p| self.partitions.get(p))
    }

    /// The generation a write is made in (see [`OwnRecords::note`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Forgets everything: the topic was created anew, its offsets start again.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for partition in &self.partitions {
            *partition.lock() = PartitionNotes::default();
        }
    }

    /// Notes a record the broker acknowledged at `offset`, written in `generation`.
    pub fn note(&self, generation: u64, partition: i32, offset: i64, key: &str, record: Option<StateRecord>) {
        let Some(notes) = self.partition(partition).filter(|_| offset >= 0 && generation == self.generation()) else {
            return;
        };
        let mut notes = notes.lock();
        if notes.noted.contains_key(&offset) {
            drop(notes);
            self.distrust(partition, offset, "two records acknowledged at one offset");
            return;
        }
        notes.insert(offset, Noted { key: key.into(), key_hash: key_hash(key), keyed: record.map(Box::new) });
    }

    /// Checks the record the follower applies at `offset` against what was noted there, and
    /// forgets what it no longer needs (everything up to `offset`).
    pub fn confirm(&self, partition: i32, offset: i64, key: Option<&[u8]>) {
        let Some(notes) = self.partition(partition) else { return };
        let mut notes = notes.lock();
        let mismatch = notes.noted.get(&offset).is_some_and(|noted| Some(noted.key.as_bytes()) != key);
        notes.forget_below(offset + 1);
        drop(notes);
        if mismatch {
            self.distrust(partition, offset, "the log holds another record where this replica's was acknowledged");
        }
    }

    fn distrust(&self, partition: i32, offset: i64, why: &str) {
        if !self.untrusted.swap(true, Ordering::AcqRel) {
            tracing::error!(
                partition,
                offset,
                why,
                "state topic: the broker's acknowledged offsets are not trusted any more: every claim is read back"
            );
        }
    }

    /// The records keyed `record_key` from `from` to `to` (inclusive) when every offset between
    /// holds this replica's own records; `None` when another replica's record, or an unknown one,
    /// may be there.
    pub fn read(&self, partition: i32, from: i64, to: i64, record_key: &str) -> Option<KeyRecords> {
        if self.untrusted.load(Ordering::Acquire) || from > to {
            return None;
        }
        let mut notes = self.partition(partition)?.lock();
        notes.forget_below(from);
        if !notes.covers(from, to) {
            return None;
        }
        let wanted = key_hash(record_key);
        let records = notes
            .noted
            .range(from..=to)
            .filter(|(_, noted)| noted.key_hash == wanted && &*noted.key == record_key)
            .filter_map(|(offset, noted)| noted.keyed.as_deref().map(|record| (*offset, record.clone())))
            .collect();
        Some(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::shared_state::record::{KeyReleaseRecord, Marker};

    fn release(key: &str) -> StateRecord {
        StateRecord::Release(KeyReleaseRecord { key: key.into(), request_id: uuid::Uuid::nil() })
    }

    fn marker() -> StateRecord {
        StateRecord::Marker(Marker { replica: "me".into(), round: 1 })
    }

    fn note(own: &OwnRecords, offset: i64, record: StateRecord) {
        let keyed = matches!(record, StateRecord::Release(_)).then(|| record.clone());
        own.note(own.generation(), 0, offset, &record.key(), keyed);
    }

    #[test]
    fn a_span_of_own_records_is_read_from_memory_and_a_gap_is_not() {
        let own = OwnRecords::new(1);
        for offset in 10..=12 {
            note(&own, offset, marker());
        }
        note(&own, 13, release("k"));
        note(&own, 15, release("k"));
        let read = own.read(0, 10, 13, "idempotency/k").expect("10..=13 are all this replica's");
        assert_eq!(read, vec![(13, release("k"))], "only the key's records");
        assert!(own.read(0, 10, 15, "idempotency/k").is_none(), "offset 14 is not known: someone else's");
        assert!(own.read(0, 9, 13, "idempotency/k").is_none(), "offset 9 is not known");
        note(&own, 14, marker());
        assert_eq!(own.read(0, 11, 15, "idempotency/k").map(|r| r.len()), Some(2), "the gap filled");
        assert!(own.read(1, 0, 0, "idempotency/k").is_none(), "no such partition");
    }

    #[test]
    fn the_follower_forgets_what_it_applied_and_a_mismatch_ends_the_trust() {
        let own = OwnRecords::new(1);
        for offset in 0..4 {
            note(&own, offset, marker());
        }
        own.confirm(0, 1, Some(marker().key().as_bytes()));
        assert!(own.read(0, 1, 3, "x").is_none(), "offset 1 was forgotten once applied");
        assert!(own.read(0, 2, 3, "x").is_some());
        own.confirm(0, 2, Some(b"replica/someone-else"));
        assert!(own.read(0, 3, 3, "x").is_none(), "the broker put another record where this one was acknowledged");
    }

    #[test]
    fn two_acknowledgements_at_one_offset_end_the_trust() {
        let own = OwnRecords::new(1);
        note(&own, 5, marker());
        note(&own, 5, release("k"));
        assert!(own.read(0, 5, 5, "x").is_none());
    }

    #[test]
    fn a_topic_created_anew_drops_what_was_noted_and_late_acknowledgements() {
        let own = OwnRecords::new(1);
        let before = own.generation();
        note(&own, 0, marker());
        own.clear();
        assert!(own.read(0, 0, 0, "x").is_none(), "offsets start again on a new topic");
        own.note(before, 0, 0, "marker/me", None);
        assert!(own.read(0, 0, 0, "x").is_none(), "acknowledged for the old topic");
    }

    #[test]
    fn past_the_bound_the_older_half_is_forgotten() {
        let own = OwnRecords::new(1);
        for offset in 0..=MAX_NOTED as i64 {
            note(&own, offset, marker());
        }
        let middle = (MAX_NOTED / 2) as i64;
        assert!(own.read(0, middle - 1, MAX_NOTED as i64, "x").is_none(), "below the middle: forgotten");
        assert!(own.read(0, middle, MAX_NOTED as i64, "x").is_some(), "the newer half kept, as one run");
    }
}
