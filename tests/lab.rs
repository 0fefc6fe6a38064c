//! The reliability lab on a real Tansu: under faults that make the client retry, the plain
//! producer writes duplicates and the idempotent one writes each event exactly once, in order.

mod common;

use common::{random_topic, start_service, TestService};
use producer_reliability::server::kafka::KafkaSettings;
use producer_reliability::server::lab::verifier::{analyse, read_back, ReadBound, SentEvent};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

async fn run(svc: &TestService, body: Value) -> Value {
    let res = svc.client.post(format!("{}/api/v1/lab/runs", svc.base)).json(&body).send().await.unwrap();
    let status = res.status();
    let report: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["state"], "done", "{report}");
    report
}

fn assert_exactly_once(report: &Value, count: u64) {
    assert_eq!(report["recordsInTopic"], count, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["outOfOrder"], 0, "{report}");
    assert_eq!(report["acked"], count, "{report}");
}

async fn compare_under(fault: &str, send_mode: &str) {
    let svc = start_service(&[]).await;
    let plain = run(&svc, json!({"mode": "plain", "count": 200, "sendMode": send_mode, "fault": fault})).await;
    let idempotent =
        run(&svc, json!({"mode": "idempotent", "count": 200, "sendMode": send_mode, "fault": fault})).await;
    println!("{fault}/{send_mode}: plain {plain}\nidempotent {idempotent}");
    assert!(plain["duplicates"].as_u64().unwrap() > 0, "the plain producer wrote duplicates: {plain}");
    assert!(plain["recordsInTopic"].as_u64().unwrap() > 200, "{plain}");
    assert_eq!(plain["lost"], 0, "{plain}");
    assert_exactly_once(&idempotent, 200);
    assert_eq!(idempotent["copyHistogram"], json!({"1": 200}), "{idempotent}");
    let settings: Vec<(String, String)> = serde_json::from_value(idempotent["settings"].clone()).unwrap();
    assert!(settings.contains(&("enable.idempotence".into(), "true".into())), "{settings:?}");
    assert!(settings.contains(&("socket.timeout.ms".into(), "1000".into())), "{settings:?}");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_produce_responses_duplicate_plain_async_but_not_idempotent() {
    compare_under("delay-produce-response", "async").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_produce_responses_duplicate_plain_sync_but_not_idempotent() {
    compare_under("delay-produce-response", "sync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_duplicate_plain_async_but_not_idempotent() {
    compare_under("drop-connection-after-produce", "async").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_duplicate_plain_sync_but_not_idempotent() {
    compare_under("drop-connection-after-produce", "sync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_fault_both_modes_write_exactly_count() {
    let svc = start_service(&[]).await;
    for mode in ["plain", "idempotent"] {
        for send_mode in ["sync", "async"] {
            let report = run(&svc, json!({"mode": mode, "count": 50, "sendMode": send_mode})).await;
            assert_exactly_once(&report, 50);
        }
    }
    let runs: Value = svc.get("/api/v1/lab/runs").await.json().await.unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 4, "past runs are listed");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_again_duplicates_in_both_modes() {
    let svc = start_service(&[]).await;
    for mode in ["plain", "idempotent"] {
        let report = run(&svc, json!({"mode": mode, "count": 20, "fault": "client-retry"})).await;
        assert_eq!(report["recordsInTopic"], 40, "{report}");
        assert_eq!(report["duplicates"], 20, "{report}");
        assert_eq!(report["copyHistogram"], json!({"2": 20}), "{report}");
    }
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_again_with_its_key_writes_once_in_both_modes() {
    let svc = start_service(&[]).await;
    for mode in ["plain", "idempotent"] {
        let report = run(&svc, json!({"mode": mode, "count": 200, "fault": "client-retry-with-key"})).await;
        assert_eq!((report["sent"].as_u64(), report["replayed"].as_u64()), (Some(400), Some(200)), "{report}");
        assert_eq!(report["recordsInTopic"], 200, "{mode}: {report}");
        assert_eq!(report["duplicates"], 0, "{mode}: {report}");
    }
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_switch_applies_to_ordinary_sends_and_clears() {
    let svc = start_service(&[]).await;
    let url = format!("{}/api/v1/lab/fault", svc.base);
    let set: Value = svc
        .client
        .put(&url)
        .json(&json!({"kind": "drop-connection-after-produce", "produceRequests": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["kind"], "drop-connection-after-produce");
    assert_eq!(set["produceRequestsLeft"], 2);
    // Ordinary sends go through the proxy: they suffer the fault and still end OK (retried).
    let topic = random_topic("switch");
    for i in 0..3 {
        let res = svc.post(&format!("/api/v1/send?mode=idempotent&eventId=SW{i}&topic={topic}")).await;
        assert_eq!(res.status(), 200);
    }
    let now: Value = svc.get("/api/v1/lab/fault").await.json().await.unwrap();
    assert_eq!(now["produceRequestsLeft"], 0, "the fault was consumed by the sends: {now}");
    let cleared: Value = svc.client.delete(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(cleared["kind"], "none");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_reports_known_duplicates_gaps_and_reorders() {
    let svc = start_service(&[]).await;
    let bootstrap = svc.bootstrap();
    let topic = random_topic("handmade");
    // The service creates the topic (3 partitions); everything goes to partition 0 in this order.
    assert_eq!(
        svc.post(&format!("/api/v1/send?mode=plain&eventId=seed&topic={topic}&partition=1")).await.status(),
        200
    );
    let settings = KafkaSettings::new(&producer_reliability::server::config::Config::defaults(), bootstrap.clone());
    let producer: ThreadedProducer<DefaultProducerContext> = settings.client_config().create().unwrap();
    let written = [("e0", "a"), ("e0", "a"), ("e2", "a"), ("e1", "a"), ("e3", "b"), ("e5", "b")];
    for (event, key) in written {
        let value = json!({"eventId": event}).to_string();
        producer.send(BaseRecord::to(&topic).key(key).payload(&value).partition(0)).map_err(|(e, _)| e).unwrap();
        producer.flush(Duration::from_secs(10)).unwrap();
    }
    let sent: Vec<SentEvent> = [("e0", "a"), ("e1", "a"), ("e2", "a"), ("e3", "b"), ("e4", "b"), ("e5", "b")]
        .into_iter()
        .map(|(e, k)| SentEvent { event_id: e.into(), key: k.into(), acked: true })
        .collect();
    let bound = ReadBound {
        acked_offsets: HashMap::from([(0, 5)]),
        quiet: Duration::from_secs(1),
        max_wait: Duration::from_secs(30),
    };
    let records = tokio::task::spawn_blocking(move || read_back(&settings, &topic, 3, &bound)).await.unwrap().unwrap();
    let v = analyse(&sent, &records);
    assert_eq!(v.records_in_topic, 6, "{v:?}");
    assert_eq!(v.duplicates, 1, "e0 twice: {v:?}");
    assert_eq!(v.lost, 1, "e4 never written: {v:?}");
    assert_eq!(v.out_of_order, 1, "e1 after e2 on key a: {v:?}");
    assert_eq!(v.foreign_records, 1, "the seed record is not an event of the run: {v:?}");
    svc.server.shutdown().await;
}

/// Issue 15: a run accounts for every send; without a fault every one is acknowledged and in the
/// topic, at the largest count a run takes (its status store used to evict before `count`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_the_largest_count_acknowledges_every_send() {
    let svc = start_service(&[]).await;
    for mode in ["plain", "idempotent"] {
        let report = run(&svc, json!({"mode": mode, "count": 100_000, "sendMode": "async", "fault": "none"})).await;
        let sent = report["sent"].as_u64().unwrap();
        assert_eq!(sent, 100_000, "{mode}");
        assert_eq!(
            report["acked"], 100_000,
            "{mode}: acked {} failed {} unknown {}",
            report["acked"], report["failed"], report["unknown"]
        );
        assert_eq!((report["failed"].as_u64(), report["unknown"].as_u64()), (Some(0), Some(0)), "{mode}");
        assert_eq!(report["recordsInTopic"], 100_000, "{mode}");
        assert_eq!(report["duplicates"], 0, "{mode}");
        assert!(report["durationMs"].as_u64().unwrap() > 0, "{mode}: the duration is reported");
        println!("{mode}: 100000 sends in {} ms", report["durationMs"]);
    }
    svc.server.shutdown().await;
}

/// Both doors start a run through the one lab core: the same queued report, the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_doors_start_the_same_run() {
    let svc = start_service(&[]).await;
    let res = svc
        .client
        .post(format!("{}/api/v1/lab/runs?wait=false", svc.base))
        .json(&json!({"mode": "plain", "count": 20, "fault": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let rest: Value = res.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/lab/runs/{}", rest["id"].as_str().unwrap()));
    let form = [("mode", "plain"), ("count", "20"), ("fault", "none")];
    let res = svc.client.post(format!("{}/api/lab/start", svc.base)).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let server_fn: Value = res.json().await.unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&rest), keys(&server_fn), "same shape");
    for field in ["mode", "sendMode", "count", "fault", "settings", "state"] {
        assert_eq!(rest[field], server_fn[field], "{field}");
    }
    for id in [rest["id"].as_str().unwrap(), server_fn["id"].as_str().unwrap()] {
        let done = common::eventually(std::time::Duration::from_secs(30), || async {
            let run: Value = svc.get(&format!("/api/v1/lab/runs/{id}")).await.json().await.unwrap();
            run["state"] == "done"
        })
        .await;
        assert!(done, "run {id} finished");
        let run: Value = svc.get(&format!("/api/v1/lab/runs/{id}")).await.json().await.unwrap();
        assert_exactly_once(&run, 20);
    }
    svc.server.shutdown().await;
}
