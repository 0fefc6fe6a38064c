//! Issue 17: the reliability lab on a cluster the service did not start (a separately started
//! Tansu, reached as any Kafka cluster is), through the fault proxy that rewrites every broker
//! address; the two faults that do not duplicate; and a global fault switch that is off unless
//! enabled. Every topic is read back with a consumer that is not part of the service.

mod common;

use common::{start_broker, start_service, TestService};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

async fn run(svc: &TestService, body: Value) -> Value {
    let res = svc.client.post(format!("{}/api/v1/lab/runs", svc.base)).json(&body).send().await.unwrap();
    let status = res.status();
    let report: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["state"], "done", "{report}");
    report
}

/// The topic's records per eventId, read straight from the broker by a plain consumer (not the
/// service's verifier): until 3 s pass with nothing new.
async fn copies_in(bootstrap: &str, topic: &str) -> HashMap<String, u64> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", format!("independent-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut assignment = TopicPartitionList::new();
        for p in 0..3 {
            assignment.add_partition_offset(&topic, p, Offset::Beginning).expect("partition");
        }
        consumer.assign(&assignment).expect("assign");
        let mut copies = HashMap::new();
        let mut last_new = Instant::now();
        while last_new.elapsed() < Duration::from_secs(3) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                let value: Value = serde_json::from_slice(m.payload().unwrap_or_default()).expect("json value");
                *copies.entry(value["eventId"].as_str().unwrap_or_default().to_owned()).or_insert(0) += 1;
                last_new = Instant::now();
            }
        }
        copies
    })
    .await
    .expect("reader")
}

/// Plain duplicates, idempotent writes exactly `count`, both lose nothing and keep order; the
/// run went through the proxy, and an independent reader agrees with the run's verifier.
async fn retrying_fault_on_an_external_cluster(fault: &str) {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let svc = start_service(&["--kafka-bootstrap-servers", &bootstrap]).await;
    let mut reports = Vec::new();
    for mode in ["plain", "idempotent"] {
        let report = run(&svc, json!({"mode": mode, "count": 200, "sendMode": "async", "fault": fault})).await;
        println!("{fault} {mode}: {report}");
        assert_eq!(report["cluster"], bootstrap.as_str(), "the run names its cluster");
        assert!(report["via"].as_str().is_some_and(|v| v != bootstrap), "through the proxy: {report}");
        assert_eq!((report["lost"].as_u64(), report["outOfOrder"].as_u64()), (Some(0), Some(0)), "{report}");
        let copies = copies_in(&bootstrap, report["topic"].as_str().unwrap()).await;
        assert_eq!(copies.len(), 200, "{mode}: every event is in the topic");
        assert_eq!(copies.values().sum::<u64>(), report["recordsInTopic"].as_u64().unwrap(), "the reader agrees");
        reports.push(report);
    }
    assert!(reports[0]["recordsInTopic"].as_u64().unwrap() > 200, "plain duplicated: {}", reports[0]);
    assert_eq!(reports[1]["recordsInTopic"], 200, "idempotent wrote each event once: {}", reports[1]);
    svc.server.shutdown().await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_answers_on_an_external_cluster_duplicate_plain_only() {
    retrying_fault_on_an_external_cluster("delay-produce-response").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_on_an_external_cluster_duplicate_plain_only() {
    retrying_fault_on_an_external_cluster("drop-connection-after-produce").await;
}

/// produce-error: the broker wrote nothing, so the retries (counted in the producers'
/// statistics) write each event once with both producers. broker-slow: no retry at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_or_slow_produce_requests_write_each_event_once() {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let svc = start_service(&["--kafka-bootstrap-servers", &bootstrap]).await;
    for mode in ["plain", "idempotent"] {
        let refused = run(&svc, json!({"mode": mode, "count": 200, "fault": "produce-error"})).await;
        assert_eq!(
            (refused["recordsInTopic"].as_u64(), refused["duplicates"].as_u64()),
            (Some(200), Some(0)),
            "{refused}"
        );
        assert!(refused["resentMessages"].as_u64().unwrap() > 0, "the producer retried: {refused}");
        let copies = copies_in(&bootstrap, refused["topic"].as_str().unwrap()).await;
        assert!(copies.len() == 200 && copies.values().all(|n| *n == 1), "{mode}: one copy each");
        let slow =
            run(&svc, json!({"mode": mode, "count": 200, "fault": {"kind": "broker-slow", "delayMs": 300}})).await;
        assert_eq!((slow["recordsInTopic"].as_u64(), slow["resentMessages"].as_u64()), (Some(200), Some(0)), "{slow}");
        assert!(slow["latencyMaxMs"].as_f64().unwrap() >= 300.0, "the latency shows: {slow}");
    }
    svc.server.shutdown().await;
    broker.stop().await;
}

/// The global switch reaches every send: off by default on an external cluster (a problem says
/// how to enable it), on with LAB_GLOBAL_FAULTS=true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_fault_switch_is_opt_in_on_an_external_cluster() {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let fault = json!({"kind": "drop-connection-after-produce", "produceRequests": 2});
    let svc = start_service(&["--kafka-bootstrap-servers", &bootstrap]).await;
    let res = svc.client.put(format!("{}/api/v1/lab/fault", svc.base)).json(&fault).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("LAB_GLOBAL_FAULTS=true"), "{body}");
    let status: Value = svc.get("/api/v1/lab/fault").await.json().await.unwrap();
    assert_eq!((status["available"].as_bool(), status["globalSwitch"].as_bool()), (Some(true), Some(false)));
    svc.server.shutdown().await;

    let svc = start_service(&["--kafka-bootstrap-servers", &bootstrap, "--lab-global-faults", "true"]).await;
    let res = svc.client.put(format!("{}/api/v1/lab/fault", svc.base)).json(&fault).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let topic = common::random_topic("switch");
    for i in 0..3 {
        let res = svc.post(&format!("/api/v1/send?mode=idempotent&eventId=SW{i}&topic={topic}")).await;
        assert_eq!(res.status(), 200, "the sends suffer the fault and still land");
    }
    let now: Value = svc.get("/api/v1/lab/fault").await.json().await.unwrap();
    assert_eq!(now["produceRequestsLeft"], 0, "ordinary sends went through the switch: {now}");
    assert!(now["listeners"].as_array().unwrap().len() >= 2, "bootstrap and node listeners: {now}");
    svc.server.shutdown().await;
    broker.stop().await;
}
