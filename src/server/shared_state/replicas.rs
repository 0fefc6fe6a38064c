//! Who is alive: each replica's last heartbeat, read from the state topic. A replica whose
//! heartbeat is older than its lease (or that said it stopped) is gone, and what it left
//! PENDING can no longer be reported by it.

use super::record::Heartbeat;
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone)]
struct Seen {
    last_ms: i64,
    lease_ms: u64,
    stopped: bool,
}

#[derive(Default)]
pub struct ReplicaTable {
    seen: RwLock<HashMap<String, Seen>>,
}

impl ReplicaTable {
    pub fn beat(&self, beat: &Heartbeat, ts_ms: i64) {
        let mut seen = self.seen.write();
        let entry = seen.entry(beat.replica.clone()).or_insert(Seen {
            last_ms: ts_ms,
            lease_ms: beat.lease_ms,
            stopped: false,
        });
        if ts_ms >= entry.last_ms {
            *entry = Seen { last_ms: ts_ms, lease_ms: beat.lease_ms, stopped: beat.stopped };
        }
    }

    fn expired(seen: &Seen, now_ms: i64) -> bool {
        seen.stopped || now_ms - seen.last_ms > seen.lease_ms as i64
    }

    /// A replica never heard of is gone too: every replica announces itself before its first send.
    pub fn is_gone(&self, replica: &str, now_ms: i64) -> bool {
        self.seen.read().get(replica).is_none_or(|s| Self::expired(s, now_ms))
    }

    /// The replicas gone now (`me` left out).
    pub fn gone(&self, now_ms: i64, me: &str) -> HashSet<String> {
        self.seen
            .read()
            .iter()
            .filter(|(id, s)| id.as_str() != me && Self::expired(s, now_ms))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether any replica but `me` is alive now.
    pub fn others_alive(&self, now_ms: i64, me: &str) -> bool {
        self.seen.read().iter().any(|(id, s)| id.as_str() != me && !Self::expired(s, now_ms))
    }

    /// Replicas alive now, for the UI and `/health/ready`.
    pub fn alive(&self, now_ms: i64) -> Vec<String> {
        let mut ids: Vec<String> =
            self.seen.read().iter().filter(|(_, s)| !Self::expired(s, now_ms)).map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(replica: &str, stopped: bool) -> Heartbeat {
        Heartbeat { replica: replica.into(), lease_ms: 1000, stopped }
    }

    #[test]
    fn a_replica_is_gone_past_its_lease_or_once_stopped() {
        let table = ReplicaTable::default();
        table.beat(&beat("a", false), 10_000);
        table.beat(&beat("b", false), 10_000);
        assert!(!table.is_gone("a", 10_900));
        assert!(table.is_gone("a", 11_001), "past the lease");
        assert!(table.is_gone("never-seen", 10_000));
        table.beat(&beat("b", true), 10_100);
        assert!(table.is_gone("b", 10_200), "stopped");
        assert_eq!(table.gone(10_200, "a"), HashSet::from(["b".to_owned()]));
        table.beat(&beat("a", false), 9_000);
        assert!(!table.is_gone("a", 10_900), "an older heartbeat read late changes nothing");
    }

    #[test]
    fn a_replica_is_alone_when_only_its_own_heartbeat_holds() {
        let table = ReplicaTable::default();
        table.beat(&beat("me", false), 10_000);
        assert!(!table.others_alive(10_500, "me"), "only its own heartbeat");
        table.beat(&beat("b", false), 10_000);
        assert!(table.others_alive(10_500, "me"));
        assert!(!table.others_alive(11_001, "me"), "b's lease is over");
        table.beat(&beat("b", true), 10_600);
        assert!(!table.others_alive(10_700, "me"), "b stopped");
    }
}
