//! Issue 14: exactly once from the HTTP caller. Real processes on one Tansu: a send repeated
//! with its `Idempotency-Key`, through another replica, concurrently, or after every replica
//! restarted, writes one record, and the repeat gets the first answer with
//! `Idempotent-Replayed: true`; a key reused for another event is 422; a malformed key 400.

mod common;

use common::{read_topic, replica, start_broker, RunningBinary};
use producer_reliability::server::kafka::EmbeddedBroker;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// One answer as the caller sees it: status, `Location`, `Idempotent-Replayed`, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    replayed: bool,
    body: Value,
}

async fn send(client: &reqwest::Client, base: &str, query: &str, key: Option<&str>) -> Answer {
    let mut req = client.post(format!("{base}/api/v1/send?{query}"));
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let res = req.send().await.expect("send");
    let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (location, replayed) = (header("location"), header("idempotent-replayed").as_deref() == Some("true"));
    let status = res.status().as_u16();
    Answer { status, location, replayed, body: res.json().await.unwrap_or(Value::Null) }
}

/// The (partition, offset) of a send, once its status is final on `base`.
async fn delivered_at(client: &reqwest::Client, base: &str, id: &str) -> (i32, i64) {
    for _ in 0..300 {
        let status: Value = client
            .get(format!("{base}/api/v1/status?requestId={id}"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .unwrap_or(Value::Null);
        if status["state"] == "OK" {
            let p = status["partition"].as_i64().unwrap_or(-1) as i32;
            return (p, status["offset"].as_i64().unwrap_or(-1));
        }
        assert_ne!(status["state"], "ERROR", "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} never reached OK");
}

/// A counter of a replica's `/metrics`.
async fn counter(client: &reqwest::Client, base: &str, name: &str) -> u64 {
    let metrics = client.get(format!("{base}/metrics")).send().await.expect("metrics").text().await;
    common::metric_value(&metrics.unwrap_or_default(), name).unwrap_or_else(|| panic!("no counter {name} on {base}"))
}

/// Every record of `topic` (3 partitions), each with its idempotency-key header.
async fn records_with_keys(bootstrap: &str, topic: &str, wanted: &[(i32, i64)]) -> Vec<(String, String)> {
    let records = read_topic(bootstrap, topic, 3, wanted, Duration::from_millis(1500)).await;
    records
        .iter()
        .map(|r| {
            let key = r.header("idempotency-key").map(|v| String::from_utf8_lossy(v).into_owned());
            (r.event_id().unwrap_or_default(), key.unwrap_or_default())
        })
        .collect()
}

/// One broker and two replicas of the service on it ("a" and "b"), both ready.
async fn two_replicas() -> (EmbeddedBroker, RunningBinary, RunningBinary) {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let (a, b) = (replica(&bootstrap, "a", &[]), replica(&bootstrap, "b", &[]));
    a.ready().await;
    b.ready().await;
    (broker, a, b)
}

/// Of two requests with one key, the answer of the one that sent: exactly one did, and the
/// other got its replay or 409 (key in use).
fn the_one_that_sent<'a>(what: &str, pair: &'a [Answer]) -> &'a Answer {
    let sent: Vec<&Answer> = pair.iter().filter(|r| r.status == 200 && !r.replayed).collect();
    assert_eq!(sent.len(), 1, "{what}: exactly one request sends: {pair:?}");
    for other in pair.iter().filter(|r| !std::ptr::eq(*r, sent[0])) {
        match other.status {
            200 => assert!(other.replayed && other.body == sent[0].body, "{what}: {other:?}"),
            409 => assert_eq!(other.body["type"], "urn:producer-reliability:problem:idempotency-key-in-use"),
            s => panic!("{what}: unexpected {s}: {other:?}"),
        }
    }
    sent[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_sent_twice_through_two_replicas_is_written_once() {
    let (broker, a, b) = two_replicas().await;
    let bootstrap = broker.bootstrap();
    let client = reqwest::Client::new();
    let topic = common::random_topic("keyed");
    let mut wanted = Vec::new();
    for i in 0..200 {
        let send_mode = if i % 2 == 0 { "sync" } else { "async" };
        let query = format!("mode=idempotent&eventId=K{i}&sendMode={send_mode}&topic={topic}");
        let key = format!("\"key-{i}\"");
        let first = send(&client, &a.base(), &query, Some(&key)).await;
        assert!(matches!(first.status, 200 | 202) && !first.replayed, "{first:?}");
        let second = send(&client, &b.base(), &query, Some(&key)).await;
        assert!(second.replayed, "send {i}: {second:?}");
        assert_eq!(
            (second.status, &second.location, &second.body),
            (first.status, &first.location, &first.body),
            "send {i}: the repeat gets the first answer"
        );
        // The key's records carry the send's statuses: the other replica reads where it landed.
        let id = first.body["requestId"].as_str().unwrap_or_default().to_owned();
        let at = delivered_at(&client, &b.base(), &id).await;
        if first.status == 200 {
            let answered = (first.body["partition"].as_i64().unwrap_or(-2) as i32, first.body["offset"].as_i64());
            assert_eq!((at.0, Some(at.1)), answered, "send {i}: its status on b");
        }
        wanted.push(at);
    }
    let records = records_with_keys(&bootstrap, &topic, &wanted).await;
    assert_eq!(records.len(), 200, "one record per event");
    let events: HashSet<&str> = records.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(events.len(), 200);
    for (event, key) in &records {
        assert_eq!(format!("K{}", key.trim_start_matches("key-")), *event, "the record carries its key");
    }
    // One caller at a time: no claim waits for the follower's next fetch. b's claims and catch-up
    // markers land among a's, so a reads some back; the others only had a's records before them.
    let (own, read_back) = (
        counter(&client, &a.base(), "state_claims_from_own_records_total").await,
        counter(&client, &a.base(), "state_claims_read_back_total").await,
    );
    assert!(own > 0 && read_back > 0, "claims decided from a's own records: {own}, read back: {read_back}");
    common::stop_replicas([a, b]).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_key_send_once() {
    let (broker, a, b) = two_replicas().await;
    let bootstrap = broker.bootstrap();
    let client = reqwest::Client::new();
    let (base_a, base_b) = (a.base(), b.base());
    let topic = common::random_topic("race");
    let mut wanted = Vec::new();
    for i in 0..50 {
        let query = format!("mode=plain&eventId=C{i}&topic={topic}");
        let key = format!("race-{i}");
        let (x, y) =
            tokio::join!(send(&client, &base_a, &query, Some(&key)), send(&client, &base_b, &query, Some(&key)));
        let pair = [x, y];
        let at = &the_one_that_sent(&format!("pair {i}"), &pair).body;
        wanted.push((at["partition"].as_i64().unwrap_or(-1) as i32, at["offset"].as_i64().unwrap_or(-1)));
    }
    let records = records_with_keys(&bootstrap, &topic, &wanted).await;
    assert_eq!(records.len(), 50, "50 pairs, 50 records");
    // A request whose claim lost withdraws the PENDING status it recorded beside the claim:
    // every replica ends with the 50 sends' statuses and no other.
    for base in [&base_a, &base_b] {
        let statuses = || counter(&client, base, "status_store_entries");
        let settled = common::eventually(Duration::from_secs(10), || async { statuses().await == 50 }).await;
        assert!(settled, "{base}: {} statuses for 50 sends", statuses().await);
    }
    common::stop_replicas([a, b]).await;
    broker.stop().await;
}

/// Many keyed requests at once through one replica, two per key: its claims land among many of
/// its own records (decided from them, not read back); still one send per key, the repeat
/// answered from the first or 409, and the other replica replays every answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_keys_claimed_at_once_through_one_replica_each_send_once() {
    let (broker, a, b) = two_replicas().await;
    let bootstrap = broker.bootstrap();
    let client = reqwest::Client::new();
    let topic = common::random_topic("at-once");
    let (base_a, base_b) = (a.base(), b.base());
    let query = |k: usize| format!("mode=plain&eventId=M{k}&topic={topic}");
    // 40 keys, each asked twice: 80 requests to a at once.
    let requests = (0..80).map(|i| {
        let (client, base, query) = (client.clone(), base_a.clone(), query(i / 2));
        async move { send(&client, &base, &query, Some(&format!("at-once-{}", i / 2))).await }
    });
    let answers = futures::future::join_all(requests).await;
    let mut wanted = Vec::new();
    for (k, pair) in answers.chunks(2).enumerate() {
        let sent = the_one_that_sent(&format!("key {k}"), pair);
        let on_b = send(&client, &base_b, &query(k), Some(&format!("at-once-{k}"))).await;
        assert!(on_b.replayed && on_b.body == sent.body, "key {k} on b: {on_b:?}");
        let at = &sent.body;
        wanted.push((at["partition"].as_i64().unwrap_or(-1) as i32, at["offset"].as_i64().unwrap_or(-1)));
    }
    let records = records_with_keys(&bootstrap, &topic, &wanted).await;
    assert_eq!(records.len(), 40, "40 keys, 40 records");
    let own = counter(&client, &base_a, "state_claims_from_own_records_total").await;
    assert!(own > 0, "no claim of a was decided from its own records");
    common::stop_replicas([a, b]).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_and_honoured_across_a_restart_of_every_replica() {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let client = reqwest::Client::new();
    let topic = common::random_topic("restart-keys");
    let a = replica(&bootstrap, "a", &[]);
    a.ready().await;
    let query = format!("mode=idempotent&eventId=R1&topic={topic}");
    let first = send(&client, &a.base(), &query, Some("restart-1")).await;
    assert_eq!(first.status, 200, "{first:?}");
    // Same key, another event: 422 naming what differs. Malformed: 400 naming the header.
    let other = send(&client, &a.base(), &format!("mode=idempotent&eventId=R2&topic={topic}"), Some("restart-1")).await;
    assert_eq!(other.status, 422, "{other:?}");
    assert!(other.body["detail"].as_str().unwrap_or_default().contains("eventId 'R1' (first request) vs 'R2'"));
    for bad in ["\"unterminated", "caf\u{e9}", &"k".repeat(256)] {
        let res = client
            .post(format!("{}/api/v1/send?{query}", a.base()))
            .header("Idempotency-Key", reqwest::header::HeaderValue::from_bytes(bad.as_bytes()).expect("header"))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 400, "{bad:?}");
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(body["field"], "Idempotency-Key", "{body}");
    }
    // Alone, a replica finds nothing but its own records before its claims: none is read back.
    for i in 0..20 {
        let answer = send(
            &client,
            &a.base(),
            &format!("mode=idempotent&eventId=A{i}&topic={topic}"),
            Some(&format!("alone-{i}")),
        )
        .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let own = counter(&client, &a.base(), "state_claims_from_own_records_total").await;
    assert!(own >= 18, "of 21 claims, decided from a's own records: {own}");
    common::stop_replicas([a]).await;
    // Every replica restarted (the broker kept): the repeat is still a replay.
    let b = replica(&bootstrap, "b", &[("REQUIRE_IDEMPOTENCY_KEY", "true")]);
    b.ready().await;
    let again = send(&client, &b.base(), &query, Some("restart-1")).await;
    assert!(again.replayed, "{again:?}");
    assert_eq!((again.status, &again.body), (first.status, &first.body));
    // Required and missing: 400 that says so.
    let missing = send(&client, &b.base(), &query, None).await;
    assert_eq!(missing.status, 400, "{missing:?}");
    assert!(missing.body["detail"].as_str().unwrap_or_default().contains("requires an Idempotency-Key"));
    common::stop_replicas([b]).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_whose_replica_died_mid_send_answers_that_the_outcome_is_unknown() {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let lease = ("REPLICA_LEASE_MS", "2000");
    // Replica a's producers go through the fault switch: its answers can be held.
    let a = replica(&bootstrap, "a", &[lease, ("LAB_GLOBAL_FAULTS", "true")]);
    let b = replica(&bootstrap, "b", &[lease]);
    a.ready().await;
    b.ready().await;
    let client = reqwest::Client::new();
    let hold = json!({"kind": "delay-produce-response", "delayMs": 60000, "produceRequests": 1000});
    let res = client.put(format!("{}/api/v1/lab/fault", a.base())).json(&hold).send().await.expect("fault");
    assert_eq!(res.status(), 200);
    let topic = common::random_topic("lost-claimant");
    let query = format!("mode=idempotent&eventId=L1&topic={topic}");
    let held = tokio::spawn({
        let (client, base, query) = (client.clone(), a.base(), query.clone());
        async move { send(&client, &base, &query, Some("lost-1")).await }
    });
    // Once a holds it (its PENDING status, recorded before it sends, is seen on b), a repeat on b
    // is told to come back.
    let holding = common::eventually(Duration::from_secs(10), || async {
        let recent: Value =
            client.get(format!("{}/api/v1/recent", b.base())).send().await.expect("recent").json().await.expect("json");
        recent.as_array().is_some_and(|r| r.iter().any(|s| s["eventId"] == "L1" && s["state"] == "PENDING"))
    })
    .await;
    assert!(holding, "a holds the send");
    let busy = send(&client, &b.base(), &query, Some("lost-1")).await;
    assert_eq!(busy.status, 409, "the repeat waits for the first request: {busy:?}");
    a.signal(libc::SIGKILL);
    let _ = a.finish_async().await;
    held.abort();
    // After a's lease: b takes the key over; a's PENDING status says the record may be written.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let answer = send(&client, &b.base(), &query, Some("lost-1")).await;
        if answer.status != 409 || std::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((answer.status, answer.replayed), (502, true), "{answer:?}");
    assert!(answer.body["detail"].as_str().unwrap_or_default().contains("may or may not be in topic"), "{answer:?}");
    let again = send(&client, &b.base(), &query, Some("lost-1")).await;
    assert_eq!((again.status, &again.body), (502, &answer.body), "final for the key");
    common::stop_replicas([b]).await;
    broker.stop().await;
}

/// A claim is read back by the claim reader even when megabytes of other replicas' state records
/// lie between where the follower stands and the claim: the reader's queue (4 MB) fills up on the
/// way, and librdkafka then waits `fetch.queue.backoff.ms` (1 s by default) before it fetches
/// again, which made a round of 12 MB outlast its 2 s bound and left every claim in it to the
/// follower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_read_back_across_megabytes_of_state_records() {
    use producer_reliability::server::config::Config;
    use producer_reliability::server::kafka::KafkaSettings;
    use producer_reliability::server::shared_state::claim_reader::{reader_consumer, ClaimReader};
    use producer_reliability::server::shared_state::record::{Marker, StateRecord};
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;

    let broker = start_broker().await;
    let settings = KafkaSettings::new(&Config::defaults(), broker.bootstrap());
    let topic = common::random_topic("claims-span");
    let admin: AdminClient<DefaultClientContext> = settings.client_config().create().expect("admin");
    let created = admin
        .create_topics(&[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .expect("create topic");
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    // 12 MB of records of other keys (few and large: Tansu takes ~5 ms per record), then the claim.
    let filler = vec![b'x'; 49152];
    common::write_records(&broker.bootstrap(), &topic, Some(0), &vec![("statuses/other/1", filler.as_slice()); 256])
        .await;
    let record = StateRecord::Marker(Marker { replica: "test".into(), round: 1 }).encode();
    let claim_key = "idempotency/scope/key";
    let written = common::write_records(&broker.bootstrap(), &topic, Some(0), &[(claim_key, record.as_slice())]).await;
    let (partition, offset) = written[0];

    let reader = ClaimReader::new(&topic, tokio_util::sync::CancellationToken::new());
    reader.start(reader_consumer(&settings).expect("reader consumer")).expect("reader thread");
    let read = reader.read(partition, 0, offset, claim_key.to_owned()).await;
    let records = read.expect("the round was served within its bound, not left to the follower");
    assert_eq!(records.iter().map(|(o, _)| *o).collect::<Vec<_>>(), vec![offset], "only the claim's key, up to it");
    reader.stop();
    broker.stop().await;
}
