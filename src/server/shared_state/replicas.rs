//! Who is alive: each replica's last heartbeat, read from the state topic. A replica whose
//! heartbeat is older than its lease (or that said it stopped) is gone, and what it left
//! PENDING can no longer be reported by it.
//!
//! "Older" is judged at the time up to which this replica's view is known to hold every record
//! ([`ReplicaTable::vouch`], after a catch-up round), not at the wall clock: a view that fell
//! behind (a slow broker, a busy follower) has not read the heartbeats written meanwhile, and
//! must not take the replicas that wrote them for gone (their sends would read UNKNOWN, their
//! keys' claims would be taken over and sent twice).

use super::record::Heartbeat;
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug, Clone)]
struct Seen {
    last_ms: i64,
    lease_ms: u64,
    stopped: bool,
}

#[derive(Default)]
pub struct ReplicaTable {
    seen: RwLock<HashMap<String, Seen>>,
    /// Wall-clock milliseconds before which every record in the topic has been applied (0: not
    /// known yet; every replica heard of is then alive).
    verified_ms: AtomicI64,
}

impl ReplicaTable {
    /// The view holds every record appended to the topic before `at_ms` (a catch-up round that
    /// began then reached its markers).
    pub fn vouch(&self, at_ms: i64) {
        self.verified_ms.fetch_max(at_ms, Ordering::AcqRel);
    }

    /// Where the judgements stand (see the module's map).
    pub fn verified_ms(&self) -> i64 {
        self.verified_ms.load(Ordering::Acquire)
    }

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
    pub fn is_gone(&self, replica: &str) -> bool {
        let at = self.verified_ms();
        self.seen.read().get(replica).is_none_or(|s| Self::expired(s, at))
    }

    /// The replicas gone (`me` left out).
    pub fn gone(&self, me: &str) -> HashSet<String> {
        let at = self.verified_ms();
        self.seen
            .read()
            .iter()
            .filter(|(id, s)| id.as_str() != me && Self::expired(s, at))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether any replica but `me` is alive.
    pub fn others_alive(&self, me: &str) -> bool {
        let at = self.verified_ms();
        self.seen.read().iter().any(|(id, s)| id.as_str() != me && !Self::expired(s, at))
    }

    /// Replicas alive, for the UI and `/health/ready`.
    pub fn alive(&self) -> Vec<String> {
        let at = self.verified_ms();
        let mut ids: Vec<String> =
            self.seen.read().iter().filter(|(_, s)| !Self::expired(s, at)).map(|(id, _)| id.clone()).collect();
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
        table.vouch(10_200);
        assert!(!table.is_gone("a"));
        assert!(table.is_gone("never-seen"));
        table.beat(&beat("b", true), 10_100);
        assert!(table.is_gone("b"), "stopped");
        assert_eq!(table.gone("a"), HashSet::from(["b".to_owned()]));
        table.beat(&beat("a", false), 9_000);
        table.vouch(10_900);
        assert!(!table.is_gone("a"), "an older heartbeat read late changes nothing");
        table.vouch(11_001);
        assert!(table.is_gone("a"), "past the lease");
    }

    #[test]
    fn a_view_behind_the_clock_takes_no_replica_for_gone() {
        let table = ReplicaTable::default();
        table.beat(&beat("a", false), 10_000);
        assert!(!table.is_gone("a"), "nothing vouched for yet: what was heard of is alive");
        table.vouch(10_500);
        assert!(!table.is_gone("a"), "the view is known whole up to 10.5 s only, however late it is now");
        assert_eq!(table.alive(), vec!["a".to_owned()]);
        table.vouch(10_200);
        assert!(!table.is_gone("a"), "a round that began earlier moves nothing back");
        table.vouch(11_001);
        assert!(table.is_gone("a"), "the view holds everything up to 11 s: a's lease is over");
        assert!(table.alive().is_empty());
    }

    #[test]
    fn a_replica_is_alone_when_only_its_own_heartbeat_holds() {
        let table = ReplicaTable::default();
        table.beat(&beat("me", false), 10_000);
        table.vouch(10_500);
        assert!(!table.others_alive("me"), "only its own heartbeat");
        table.beat(&beat("b", false), 10_000);
        assert!(table.others_alive("me"));
        table.beat(&beat("b", true), 10_400);
        assert!(!table.others_alive("me"), "b stopped");
        table.beat(&beat("c", false), 10_000);
        assert!(table.others_alive("me"));
        table.vouch(11_001);
        assert!(!table.others_alive("me"), "c's lease is over");
    }
}
