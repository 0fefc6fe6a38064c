//! A broker that loses its state under the service (killed and restarted empty on the same port,
//! as an in-memory broker, a reset development cluster or a wiped volume does), and a topic
//! deleted while the service runs: on a real Tansu, the service not restarted.

mod common;

use common::{eventually, random_topic, start_broker, start_service};
use producer_reliability::server::config::Config;
use producer_reliability::server::kafka::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REPETITIONS: usize = 5;
/// Both modes send again within this of the broker answering (the bar).
const RECOVERY_BOUND: Duration = Duration::from_secs(10);

/// What the async load got: every answer's status, and the ids of the accepted sends.
#[derive(Default)]
struct LoadAnswers {
    statuses: Vec<(u16, String, Value)>,
    accepted: Vec<String>,
}

/// Async sends, both modes, from `callers` callers, until `stop`.
async fn async_load(svc: Arc<common::TestService>, topic: String, stop: Arc<AtomicBool>) -> LoadAnswers {
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..4 {
        let (svc, topic, stop) = (svc.clone(), topic.clone(), stop.clone());
        callers.spawn(async move {
            let mut answers = LoadAnswers::default();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let mode = if i % 2 == 0 { "plain" } else { "idempotent" };
                i += 1;
                let url = format!("/api/v1/send?mode={mode}&eventId=L{caller}-{i}&sendMode=async&topic={topic}");
                let res = svc.post(&url).await;
                let status = res.status().as_u16();
                let kind = res.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned());
                let body: Value = res.json().await.unwrap_or(Value::Null);
                if status == 202 {
                    answers.accepted.push(body["requestId"].as_str().unwrap_or_default().to_owned());
                }
                answers.statuses.push((status, kind.unwrap_or_default(), body));
            }
            answers
        });
    }
    let mut all = LoadAnswers::default();
    while let Some(done) = callers.join_next().await {
        let answers = done.expect("load caller");
        all.statuses.extend(answers.statuses);
        all.accepted.extend(answers.accepted);
    }
    all
}

/// One sync send per mode until both are 200; how long that took.
async fn both_modes_send(svc: &common::TestService, topic: &str, round: usize) -> Duration {
    let started = Instant::now();
    let mut ok = [false, false];
    let mut attempt = 0;
    while ok != [true, true] {
        assert!(started.elapsed() < Duration::from_secs(40), "both modes never sent again: {ok:?}");
        attempt += 1;
        for (i, mode) in ["plain", "idempotent"].into_iter().enumerate() {
            if ok[i] {
                continue;
            }
            let res = svc.post(&format!("/api/v1/send?mode={mode}&eventId=R{round}-{attempt}&topic={topic}")).await;
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            println!("round {round}, {:?} after the restart: {mode} {status} {body}", started.elapsed());
            ok[i] = status == 200;
        }
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restarted_empty_under_load_leaves_no_send_pending_and_both_modes_recover() {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let svc = Arc::new(
        start_service(&[
            "--kafka-bootstrap-servers",
            &bootstrap,
            "--kafka-delivery-timeout-ms",
            "15000",
            "--state-write-timeout-ms",
            "3000",
        ])
        .await,
    );
    let topic = random_topic("loss");
    for round in 0..REPETITIONS {
        let stop = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn(async_load(svc.clone(), topic.clone(), stop.clone()));
        let sent = eventually(Duration::from_secs(10), || async {
            svc.get("/metrics").await.text().await.unwrap_or_default().contains("outcome=\"ok\"")
        })
        .await;
        assert!(sent, "the load is under way");

        let (pid, generation) = (broker.pid(), broker.life().borrow().generation);
        // SAFETY: kill(2) on the Tansu process this test started.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
        let back = eventually(Duration::from_secs(20), || async {
            let life = broker.life().borrow().clone();
            life.generation > generation && life.alive
        })
        .await;
        assert!(back, "Tansu restarted on the same port");

        let took = both_modes_send(&svc, &topic, round).await;
        assert!(took <= RECOVERY_BOUND, "round {round}: both modes sent again after {took:?}");

        stop.store(true, Ordering::Relaxed);
        let answers = load.await.expect("load");
        for (status, kind, body) in &answers.statuses {
            let problem = *status >= 500 && kind.starts_with("application/problem+json");
            assert!(*status == 202 || problem, "round {round}: every answer is 202 or a 5xx problem: {status} {body}");
        }
        for id in &answers.accepted {
            let status = svc.wait_terminal(id).await;
            assert!(status["state"] == "OK" || status["state"] == "ERROR", "round {round}: {status}");
        }
        println!(
            "round {round}: {} answers, {} accepted, recovered in {took:?}",
            answers.statuses.len(),
            answers.accepted.len()
        );
    }
    let metrics = svc.get("/metrics").await.text().await.unwrap_or_default();
    assert!(metrics.contains("producer_renewals_total{mode=\"idempotent\""), "renewals are counted:\n{metrics}");
    let ready: Value = svc.get("/health/ready").await.json().await.expect("ready json");
    assert!(ready["lastProducerError"].as_str().is_some_and(|e| e.contains("renewed")), "{ready}");
    Arc::try_unwrap(svc).ok().expect("one owner left").server.shutdown().await;
    broker.stop().await;
}

async fn delete_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> =
        KafkaSettings::new(&Config::defaults(), bootstrap.to_owned()).client_config().create().expect("admin");
    let results = admin.delete_topics(&[topic], &AdminOptions::new()).await.expect("delete topics");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

async fn vanished_count(svc: &common::TestService) -> u64 {
    let metrics = svc.get("/metrics").await.text().await.unwrap_or_default();
    common::metric_value(&metrics, "kafka_topics_vanished_total").unwrap_or(0)
}

fn partition_count(bootstrap: &str, topic: &str) -> usize {
    let admin: AdminClient<DefaultClientContext> =
        KafkaSettings::new(&Config::defaults(), bootstrap.to_owned()).client_config().create().expect("admin");
    let md = admin.inner().fetch_metadata(Some(topic), Duration::from_secs(5)).expect("metadata");
    md.topics().iter().find(|t| t.name() == topic).map_or(0, |t| t.partitions().len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_topic_is_created_again_by_the_next_send_of_either_mode() {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let svc = start_service(&["--kafka-bootstrap-servers", &bootstrap, "--kafka-topic-partitions", "2"]).await;
    for mode in ["plain", "idempotent"] {
        let topic = random_topic("deleted");
        let send = |event: &str| format!("/api/v1/send?mode={mode}&eventId={event}&topic={topic}");
        assert_eq!(svc.post(&send("before")).await.status(), 200);
        let vanished_before = vanished_count(&svc).await;
        delete_topic(&bootstrap, &topic).await;
        // Kafka answers a produce to a deleted topic UNKNOWN_TOPIC_OR_PARTITION (the service then
        // creates it again and sends once more); Tansu 0.6 acknowledges it into a topic nobody
        // can read. So on Tansu the next send is the one after the background probe saw the
        // topic gone (every 2 s), as a user watching `kafka_topics_vanished_total` would see.
        let noticed =
            eventually(Duration::from_secs(10), || async { vanished_count(&svc).await > vanished_before }).await;
        assert!(noticed, "{mode}: the probe noticed the topic gone");

        let started = Instant::now();
        let res = svc.post(&send("after")).await;
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 200, "{mode}: the next send succeeds: {body}");
        assert!(started.elapsed() < Duration::from_secs(5), "{mode}: took {:?}", started.elapsed());
        let records = common::read_topic(
            &bootstrap,
            &topic,
            2,
            &[(body["partition"].as_i64().unwrap_or(0) as i32, body["offset"].as_i64().unwrap_or(0))],
            Duration::from_millis(300),
        )
        .await;
        let keys: Vec<String> = records.iter().map(|r| String::from_utf8_lossy(&r.key).into_owned()).collect();
        assert_eq!(keys, ["after"], "{mode}: the re-created topic holds the one record sent after");
        assert_eq!(partition_count(&bootstrap, &topic), 2, "created again with the configured partitions");
    }
    svc.server.shutdown().await;
    broker.stop().await;
}
