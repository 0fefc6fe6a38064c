//! Overload and broker faults on a real Tansu: the service stays up, answers every send with a
//! clear status within a bound, and recovers without a restart.

mod common;

use common::{eventually, random_topic, start_broker, start_service, start_service_unready};
use producer_reliability::model::{DeliveryState, ProducerMode, SendParams};
use producer_reliability::server::kafka::EmbeddedBroker;
use producer_reliability::server::shutdown::Shutdown;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_that_stays_full_answers_503_with_retry_after_once_max_block_passed() {
    // Five records fill the queue; linger keeps them there longer than the send may wait.
    let svc = start_service(&[
        "--kafka-properties",
        "queue.buffering.max.messages=5,linger.ms=5000",
        "--kafka-max-block-ms",
        "300",
    ])
    .await;
    let topic = random_topic("full");
    let mut overloaded = None;
    for i in 0..10 {
        let started = Instant::now();
        let res = svc.post(&format!("/api/v1/send?mode=plain&eventId=Q{i}&sendMode=async&topic={topic}")).await;
        if res.status() == 503 {
            overloaded = Some((res, started.elapsed()));
            break;
        }
        assert_eq!(res.status(), 202);
    }
    let (res, took) = overloaded.expect("the sixth send finds the queue full");
    assert!(took >= Duration::from_millis(300), "waited for room first, took {took:?}");
    assert!(took < Duration::from_secs(3), "then answered, took {took:?}");
    assert_eq!(res.headers()["retry-after"], "1");
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("queue is full"), "{body}");
    svc.server.shutdown().await;
}

/// Sends `count` async sends at once; for each, in order: its eventId, status code and body.
async fn burst(svc: &common::TestService, topic: &str, count: usize) -> Vec<(String, u16, Value)> {
    let sends = (0..count).map(|i| async move {
        let res = svc.post(&format!("/api/v1/send?mode=plain&eventId=B{i}&sendMode=async&topic={topic}")).await;
        let status = res.status().as_u16();
        (format!("B{i}"), status, res.json::<Value>().await.unwrap_or(Value::Null))
    });
    futures::future::join_all(sends).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_queue_waits_for_room_and_every_send_lands() {
    // A queue of 5 that the producer empties every 20 ms, and 60 sends at once.
    let props = "queue.buffering.max.messages=5,linger.ms=20";
    let svc = start_service(&["--kafka-properties", props]).await;
    let topic = random_topic("burst");
    let answers = burst(&svc, &topic, 60).await;
    for (event_id, status, body) in &answers {
        assert_eq!(*status, 202, "{event_id}: {body}");
    }
    let mut wanted = Vec::new();
    for (_, _, body) in &answers {
        let status = svc.wait_terminal(body["requestId"].as_str().unwrap()).await;
        assert_eq!(status["state"], "OK", "{status}");
        wanted.push((status["partition"].as_i64().unwrap() as i32, status["offset"].as_i64().unwrap()));
    }
    let records = common::read_topic(&svc.bootstrap(), &topic, 3, &wanted, Duration::from_millis(500)).await;
    let mut events: Vec<_> = records.iter().filter_map(|r| r.event_id()).collect();
    events.sort();
    let expected = {
        let mut all: Vec<_> = answers.iter().map(|(event_id, _, _)| event_id.clone()).collect();
        all.sort();
        all
    };
    assert_eq!(events, expected, "every accepted send is in the topic, once");
    svc.server.shutdown().await;

    // The same burst with no waiting allowed: the queue's limit shows as 503s.
    let svc = start_service(&["--kafka-properties", props, "--kafka-max-block-ms", "0"]).await;
    let answers = burst(&svc, &random_topic("burst"), 60).await;
    assert!(answers.iter().any(|(_, status, _)| *status == 503), "without max.block the burst overflows");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_leaves_while_waiting_for_room_leaves_no_pending_status() {
    // Five records fill the queue and linger keeps them there; the sixth send waits for room.
    let svc = start_service(&[
        "--kafka-properties",
        "queue.buffering.max.messages=5,linger.ms=5000",
        "--kafka-max-block-ms",
        "30000",
    ])
    .await;
    let topic = random_topic("leave");
    for i in 0..5 {
        let res = svc.post(&format!("/api/v1/send?mode=plain&eventId=L{i}&sendMode=async&topic={topic}")).await;
        assert_eq!(res.status(), 202);
    }
    let state = svc.server.state().clone();
    let store = state.send.store();
    assert_eq!(store.pending_count(), 5);
    let send = svc.server.state().send.clone();
    let params = SendParams {
        mode: Some("plain".into()),
        event_id: Some("L-waiting".into()),
        topic: Some(topic.clone()),
        send_mode: Some("async".into()),
        key: None,
        partition: None,
    };
    let waiting = tokio::spawn(async move { send.send(&params).await });
    assert!(eventually(Duration::from_secs(5), || async { store.pending_count() == 6 }).await, "the sixth send waits");
    waiting.abort();
    assert!(waiting.await.unwrap_err().is_cancelled());
    assert_eq!(store.pending_count(), 5, "the abandoned send left no PENDING status");
    assert!(store.recent(10).iter().all(|s| s.event_id != "L-waiting"), "nor a recent send");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_at_start_up_then_ready_when_it_comes() {
    let addr = free_addr();
    let bootstrap = addr.to_string();
    let svc = start_service_unready(&["--kafka-bootstrap-servers", &bootstrap]).await;
    assert_eq!(svc.get("/health").await.status(), 200, "alive without a broker");
    let ready = svc.get("/health/ready").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains(&bootstrap), "the reason names the broker: {body}");

    let broker = EmbeddedBroker::start_on(None, addr, None, &Shutdown::new()).await.expect("Tansu starts");
    let became_ready =
        eventually(Duration::from_secs(20), || async { svc.get("/health/ready").await.status() == 200 }).await;
    assert!(became_ready, "ready once the broker answers");
    let res = svc.post("/api/v1/send?mode=idempotent&eventId=LATE").await;
    assert_eq!(res.status(), 200);
    svc.server.shutdown().await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_while_serving_fails_fast_and_recovers_without_restart() {
    let broker = start_broker().await;
    let listen = broker.listen_addr();
    let bootstrap = broker.bootstrap();
    let svc = start_service(&["--kafka-bootstrap-servers", &bootstrap, "--kafka-delivery-timeout-ms", "3000"]).await;
    let topic = random_topic("outage");
    assert_eq!(svc.post(&format!("/api/v1/send?mode=plain&eventId=B0&topic={topic}")).await.status(), 200);

    broker.stop().await;
    let started = Instant::now();
    let res = svc.post(&format!("/api/v1/send?mode=idempotent&eventId=B1&topic={topic}")).await;
    let took = started.elapsed();
    assert!(res.status().is_server_error(), "{}", res.status());
    assert!(took < Duration::from_secs(10), "bounded by the delivery timeout, took {took:?}");
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("timed out"), "names the cause: {body}");

    // An async send is accepted only once its status is safe in the state topic: with the broker
    // away it is refused (bounded), and nothing is sent.
    let started = Instant::now();
    let res = svc.post(&format!("/api/v1/send?mode=plain&eventId=B2&sendMode=async&topic={topic}")).await;
    assert_eq!(res.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(12), "bounded, took {:?}", started.elapsed());
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("nothing was sent"), "{body}");

    // The broker comes back where it was (empty: in-memory); new sends succeed, no restart.
    let broker = EmbeddedBroker::start_on(None, listen, None, &Shutdown::new()).await.expect("Tansu restarts");
    let recovered = eventually(Duration::from_secs(30), || async {
        let res = svc.post(&format!("/api/v1/send?mode=idempotent&eventId=B3&topic={topic}")).await;
        let status = res.status();
        println!("after restart: {status} {}", res.text().await.unwrap_or_default());
        status == 200
    })
    .await;
    assert!(recovered, "sends succeed again once the broker is back");
    svc.server.shutdown().await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_embedded_broker_is_restarted_and_sends_resume() {
    let svc = start_service(&["--kafka-delivery-timeout-ms", "5000"]).await;
    assert_eq!(svc.post("/api/v1/send?mode=plain&eventId=K0").await.status(), 200);
    let broker = svc.server.embedded_broker().expect("embedded");
    let first_pid = broker.pid();
    unsafe {
        libc::kill(first_pid as libc::pid_t, libc::SIGKILL);
    }
    let restarted = eventually(Duration::from_secs(20), || async {
        let pid = broker.pid();
        pid != 0 && pid != first_pid && broker.life().borrow().generation == 2
    })
    .await;
    assert!(restarted, "the supervisor started a new Tansu");
    let resumed = eventually(Duration::from_secs(30), || async {
        svc.post("/api/v1/send?mode=idempotent&eventId=K1").await.status() == 200
    })
    .await;
    assert!(resumed, "sends succeed on the restarted broker");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_idempotent_error_replaces_the_producer_and_fails_what_it_held() {
    // linger keeps the records queued in the producer when the fatal error strikes.
    let svc = start_service(&["--kafka-linger-ms", "3000"]).await;
    let topic = random_topic("fatal");
    let mut ids = Vec::new();
    for i in 0..20 {
        let res = svc.post(&format!("/api/v1/send?mode=idempotent&eventId=F{i}&sendMode=async&topic={topic}")).await;
        assert_eq!(res.status(), 202);
        ids.push(res.json::<Value>().await.unwrap()["requestId"].as_str().unwrap().to_owned());
    }
    let pair = svc.server.producer_pair().expect("rdkafka producers").clone();
    let before = pair.get(ProducerMode::Idempotent);
    pair.inject_fatal_error(ProducerMode::Idempotent);

    for id in &ids {
        let status = svc.wait_terminal(id).await;
        assert_eq!(status["state"], "ERROR", "never left PENDING: {status}");
    }
    let replaced = eventually(Duration::from_secs(10), || async {
        !std::sync::Arc::ptr_eq(&before, &pair.get(ProducerMode::Idempotent))
    })
    .await;
    assert!(replaced, "the idempotent producer was rebuilt");
    let ready: Value = svc.get("/health/ready").await.json().await.unwrap();
    assert!(ready["lastProducerError"].as_str().unwrap().contains("OutOfOrderSequenceNumber"), "{ready}");
    let res = svc.post(&format!("/api/v1/send?mode=idempotent&eventId=F-after&topic={topic}")).await;
    assert_eq!(res.status(), 200, "the new producer works");
    svc.server.shutdown().await;
}

/// The bulks of statuses in the state topic that hold `request_id` in `state`.
async fn state_records_of(svc: &common::TestService, request_id: &str, state: DeliveryState) -> usize {
    use producer_reliability::server::shared_state::record::StateRecord;
    let partitions = svc.server.shared_table().expect("the shared status table").writer().partitions();
    let records =
        common::read_topic(&svc.bootstrap(), "producer-reliability-state", partitions, &[], Duration::from_secs(1))
            .await;
    records
        .iter()
        .filter_map(|r| match StateRecord::decode(&r.value) {
            Some(StateRecord::Statuses(bulk)) => Some(bulk),
            _ => None,
        })
        .filter(|bulk| bulk.statuses.iter().any(|s| s.request_id.to_string() == request_id && s.state == state))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_of_the_state_writer_renews_it_and_writes_this_replicas_statuses_again() {
    let svc = start_service(&[]).await;
    let topic = random_topic("state-fatal");
    let res = svc.post(&format!("/api/v1/send?mode=idempotent&eventId=S1&sendMode=async&topic={topic}")).await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["requestId"].as_str().unwrap().to_owned();
    assert_eq!(svc.wait_terminal(&id).await["state"], "OK");
    let table = svc.server.shared_table().expect("the shared status table").clone();
    let before = state_records_of(&svc, &id, DeliveryState::Ok).await;
    assert_eq!(before, 1, "its OK status was written once");

    table.writer().inject_fatal_error();
    // Async sends wait for their PENDING status in the state topic: without a new writer every
    // one would be refused from now on.
    let accepted = eventually(Duration::from_secs(10), || async {
        svc.post(&format!("/api/v1/send?mode=idempotent&eventId=S2&sendMode=async&topic={topic}")).await.status() == 202
    })
    .await;
    assert!(accepted, "async sends are accepted again");
    let metrics = svc.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("state_writer_renewals_total 1"), "{metrics}");
    // What the old session held is lost: this replica's statuses are written again.
    assert_eq!(
        state_records_of(&svc, &id, DeliveryState::Ok).await,
        2,
        "its OK status written again by the new writer"
    );
    svc.server.shutdown().await;
}
