use super::pending_for_test as pending;
use super::*;

/// Inserts `n` PENDING statuses; returns their ids in insertion order.
fn fill(store: &StatusStore, n: usize) -> Vec<Uuid> {
    (0..n)
        .map(|i| {
            let s = pending(&i.to_string());
            let id = s.request_id;
            store.insert(s).expect("room");
            id
        })
        .collect()
}

fn deliver(store: &StatusStore, id: &Uuid) {
    assert!(store.complete(id, Delivered::Ok { partition: 0, offset: 1 }, Duration::from_millis(1)));
}

#[test]
fn pending_becomes_ok_with_partition_and_offset() {
    let store = StatusStore::new(10, Duration::from_secs(60));
    let id = fill(&store, 1)[0];
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
    let id = fill(&store, 1)[0];
    store.complete(&id, Delivered::Failed("Broker: timed out".into()), Duration::from_millis(3));
    let got = store.get(&id).unwrap();
    assert_eq!(got.state, DeliveryState::Error);
    assert_eq!(got.error.as_deref(), Some("Broker: timed out"));
}

/// Issue 15: a store of capacity N holds N statuses without evicting any, in one shard and in
/// many (random ids fill shards unevenly: a per-shard capacity used to evict before N).
#[test]
fn a_store_filled_to_its_capacity_evicts_none() {
    for capacity in [3, 1000, 100_000] {
        let store = StatusStore::new(capacity, Duration::from_secs(60));
        let ids = fill(&store, capacity);
        assert_eq!(store.len(), capacity);
        assert_eq!(store.evicted_count(), 0, "capacity {capacity}");
        assert!(ids.iter().all(|id| store.get(id).is_some()), "capacity {capacity}: every status is kept");
    }
}

/// Issue 15: at N+1 the oldest *finished* status goes, not the oldest one (a PENDING one).
#[test]
fn one_more_evicts_the_oldest_finished_status() {
    for capacity in [4, 5000] {
        let store = StatusStore::new(capacity, Duration::from_secs(60));
        let ids = fill(&store, capacity);
        // The two oldest stay PENDING; the 4th and 3rd oldest finish, in that order.
        deliver(&store, &ids[3]);
        deliver(&store, &ids[2]);
        fill(&store, 1);
        assert_eq!(store.len(), capacity);
        assert_eq!(store.evicted_count(), 1);
        assert!(store.get(&ids[2]).is_none(), "capacity {capacity}: the oldest finished status was evicted");
        assert!(store.get(&ids[0]).is_some() && store.get(&ids[1]).is_some(), "PENDING ones are kept");
        assert!(store.get(&ids[3]).is_some());
        fill(&store, 1);
        assert!(store.get(&ids[3]).is_none(), "then the next oldest finished");
    }
}

/// Issue 15: with every status PENDING, a new send is refused rather than one forgotten.
#[test]
fn a_store_full_of_pending_statuses_refuses_instead_of_forgetting() {
    let store = StatusStore::new(3, Duration::from_secs(60));
    let ids = fill(&store, 3);
    let refused = store.insert(pending("x")).unwrap_err();
    assert_eq!(refused, StoreFull { capacity: 3 });
    assert!(ids.iter().all(|id| store.get(id).is_some()));
    assert_eq!((store.len(), store.pending_count(), store.evicted_count()), (3, 3, 0));
    deliver(&store, &ids[1]);
    assert!(store.insert(pending("y")).is_ok(), "room again once one finished");
    assert!(store.get(&ids[1]).is_none());
}

#[test]
fn finished_statuses_expire_and_pending_ones_do_not() {
    let store = StatusStore::new(10, Duration::ZERO);
    let ids = fill(&store, 2);
    deliver(&store, &ids[0]);
    assert!(store.get(&ids[0]).is_none(), "finished and past max age");
    assert!(store.get(&ids[1]).is_some(), "PENDING is kept whatever its age");
    fill(&store, 1);
    assert_eq!(store.len(), 2, "the expired status was removed on insert");
}

#[test]
fn recent_lists_newest_first_and_is_bounded() {
    let store = StatusStore::new(1000, Duration::from_secs(60));
    fill(&store, RECENT_LIMIT + 10);
    let recent = store.recent(RECENT_LIMIT);
    assert_eq!(recent.len(), RECENT_LIMIT);
    assert_eq!(recent[0].event_id, (RECENT_LIMIT + 9).to_string());
    assert_eq!(recent[RECENT_LIMIT - 1].event_id, "10");
}

#[test]
fn removed_sends_disappear_everywhere() {
    let store = StatusStore::new(10, Duration::from_secs(60));
    let id = fill(&store, 1)[0];
    store.remove(&id);
    assert!(store.get(&id).is_none());
    assert!(store.recent(10).is_empty());
    assert_eq!((store.pending_count(), store.len()), (0, 0));
}

#[test]
fn concurrent_inserts_never_exceed_the_capacity() {
    let store = std::sync::Arc::new(StatusStore::new(2000, Duration::from_secs(60)));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..5000 {
                    let s = pending(&format!("{t}-{i}"));
                    let id = s.request_id;
                    if store.insert(s).is_ok() {
                        store.complete(&id, Delivered::Ok { partition: 0, offset: i }, Duration::ZERO);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.len(), 2000);
    assert_eq!(store.evicted_count(), 20_000 - 2000);
}
