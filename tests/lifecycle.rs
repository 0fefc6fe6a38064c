//! Start-up and shutdown: nothing accepted is lost when the service stops, bad settings stop
//! start-up with a message naming them, and the embedded broker never outlives the service.

mod common;

use common::{random_topic, read_topic, spawn_binary, start_broker, start_service};
use producer_reliability::model::DeliveryState;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_producer-reliability");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_every_pending_async_send() {
    // The broker outlives the service, so the topic can be read after the shutdown.
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    // linger.ms=1000 keeps records queued: without a flush at shutdown they would be lost.
    let svc = start_service(&["--kafka-bootstrap-servers", &bootstrap, "--kafka-linger-ms", "1000"]).await;
    let topic = random_topic("drain");
    let count = 1000;
    let mut ids = Vec::new();
    for i in 0..count {
        let res = svc
            .post(&format!(
                "/api/v1/send?mode={}&eventId=D-{i}&sendMode=async&topic={topic}",
                if i % 2 == 0 { "plain" } else { "idempotent" }
            ))
            .await;
        assert_eq!(res.status(), 202);
        let body: serde_json::Value = res.json().await.unwrap();
        ids.push(body["requestId"].as_str().unwrap().parse::<uuid::Uuid>().unwrap());
    }
    let state = svc.server.state().clone();
    assert!(state.send.store().pending_count() > 0, "the test needs sends still pending at shutdown");
    let report = svc.server.shutdown().await;
    assert_eq!(report.undelivered, 0);
    let mut wanted = Vec::new();
    for id in &ids {
        let status = state.send.store().get(id).expect("status kept");
        assert_eq!(status.state, DeliveryState::Ok, "{status:?}");
        wanted.push((status.partition.unwrap(), status.offset.unwrap()));
    }
    let records = read_topic(&bootstrap, &topic, 3, &wanted, Duration::from_secs(1)).await;
    let events: HashSet<String> = records
        .iter()
        .map(|r| serde_json::from_slice::<serde_json::Value>(&r.value).unwrap()["eventId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(records.len(), count, "every accepted send is in the topic, once");
    assert_eq!(events.len(), count);
    broker.stop().await;
}

fn port_closed_within(addr: SocketAddr, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn sigterm_stops_the_service_and_its_broker_with_exit_0() {
    let bin = spawn_binary(&[]);
    let broker = bin.broker.expect("embedded broker address in the log");
    assert!(std::net::TcpStream::connect(bin.http).is_ok(), "serving on {}", bin.http);
    bin.signal(libc::SIGTERM);
    let (status, log) = bin.finish();
    assert!(status.success(), "exit 0 on SIGTERM, got {status}: {log}");
    assert!(log.contains("embedded Kafka broker"), "says the broker is embedded: {log}");
    assert!(port_closed_within(broker, Duration::from_secs(5)), "embedded broker still listening on {broker}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_in_a_terminal_drains_every_send_to_the_embedded_broker() {
    // Ctrl-C signals the terminal's whole foreground group: an embedded broker in the service's
    // group would stop at once, before the records still queued (linger.ms) reached it.
    let bin = spawn_binary(&[("KAFKA_LINGER_MS", "2000")]);
    bin.ready().await;
    let client = reqwest::Client::new();
    for i in 0..200 {
        let url = format!("{}/api/v1/send?mode=idempotent&eventId=C-{i}&sendMode=async", bin.base());
        assert_eq!(client.post(url).send().await.expect("send").status(), 202);
    }
    bin.signal_group(libc::SIGINT);
    let (status, log) = bin.finish_async().await;
    assert!(status.success(), "exit 0 on Ctrl-C: {log}");
    assert!(log.contains("all records delivered"), "every queued record reached the broker: {log}");
    assert!(!log.contains("embedded broker died"), "the broker outlived the drain: {log}");
}

#[test]
fn a_killed_service_leaves_no_orphan_broker() {
    let bin = spawn_binary(&[]);
    let broker = bin.broker.expect("embedded broker address in the log");
    bin.signal(libc::SIGKILL);
    let _ = bin.finish();
    assert!(port_closed_within(broker, Duration::from_secs(5)), "orphan Tansu still listening on {broker}");
}

#[test]
fn bad_settings_stop_start_up_naming_the_variable() {
    for (var, value) in [("KAFKA_REQUEST_TIMEOUT_MS", "soon"), ("KAFKA_RETRIES", "-1"), ("KAFKA_LINGER_MS", "1.5")] {
        let out = Command::new(BIN).env(var, value).output().expect("binary runs");
        assert!(!out.status.success(), "{var}={value} must stop start-up");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{var}={value}: {stderr}");
    }
}

#[test]
fn missing_tansu_says_how_to_install_it() {
    let out = Command::new(BIN)
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .env("TANSU_BIN", "/nonexistent/tansu")
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("cargo install tansu"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_thousands_of_pending_async_sends_loses_none() {
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    // linger.ms keeps records queued, so SIGTERM finds thousands still pending.
    let bin = spawn_binary(&[("KAFKA_BOOTSTRAP_SERVERS", &bootstrap), ("KAFKA_LINGER_MS", "2000")]);
    bin.ready().await;
    let topic = random_topic("sigterm");
    let client = reqwest::Client::new();
    let count = 3000;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (client, base, topic) = (client.clone(), bin.base(), topic.clone());
        tasks.spawn(async move {
            for i in (worker..count).step_by(16) {
                let url = format!("{base}/api/v1/send?mode=idempotent&eventId=S-{i}&sendMode=async&topic={topic}");
                let res = client.post(url).send().await.expect("send");
                assert_eq!(res.status(), 202);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("sender task");
    }
    bin.signal(libc::SIGTERM);
    let (status, log) = bin.finish_async().await;
    assert!(status.success(), "exit 0: {log}");
    assert!(log.contains("all records delivered"), "{log}");
    let records = read_topic(&bootstrap, &topic, 3, &[], Duration::from_secs(3)).await;
    let events: HashSet<String> = records.iter().filter_map(|r| r.event_id()).collect();
    assert_eq!(events.len(), count, "every accepted event is in the topic");
    assert_eq!(records.len(), count, "and only once");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_sends_at_shutdown_are_logged_by_request_id() {
    let broker = start_broker().await;
    // The service's producers go through the fault switch, which holds their broker's answers.
    let bin = spawn_binary(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &broker.bootstrap()),
        ("SHUTDOWN_FLUSH_TIMEOUT_MS", "500"),
        ("LAB_GLOBAL_FAULTS", "true"),
    ]);
    bin.ready().await;
    let client = reqwest::Client::new();
    let topic = random_topic("undelivered");
    let res =
        client.post(format!("{}/api/v1/send?mode=plain&eventId=U0&topic={topic}", bin.base())).send().await.unwrap();
    assert_eq!(res.status(), 200, "the topic exists before the answers are held");
    let hold = serde_json::json!({"kind": "delay-produce-response", "delayMs": 60000, "produceRequests": 1000});
    let res = client.put(format!("{}/api/v1/lab/fault", bin.base())).json(&hold).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut ids = Vec::new();
    for i in 1..=5 {
        let url = format!("{}/api/v1/send?mode=plain&eventId=U{i}&sendMode=async&topic={topic}", bin.base());
        let res = client.post(url).send().await.unwrap();
        assert_eq!(res.status(), 202);
        ids.push(res.json::<serde_json::Value>().await.unwrap()["requestId"].as_str().unwrap().to_owned());
    }
    bin.signal(libc::SIGTERM);
    let (status, log) = bin.finish_async().await;
    assert!(status.success(), "{log}");
    for id in ids {
        assert!(
            log.lines().any(|l| l.contains("undelivered at shutdown") && l.contains(&id)),
            "{id} not logged: {log}"
        );
    }
    broker.stop().await;
}
