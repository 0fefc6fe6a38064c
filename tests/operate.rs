//! What an operator relies on: Prometheus metrics that move, and JSON logs with one line per send.

mod common;

use common::{eventually, random_topic, spawn_binary, start_service};
use std::time::Duration;

/// The value of the first sample line that starts with `prefix` (name plus labels).
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_sends_by_mode_send_mode_and_outcome() {
    let svc = start_service(&[]).await;
    let before = svc.get("/metrics").await.text().await.unwrap();
    let topic = random_topic("metrics");
    for i in 0..3 {
        assert_eq!(svc.post(&format!("/api/v1/send?mode=plain&eventId=M{i}&topic={topic}")).await.status(), 200);
    }
    for i in 0..2 {
        let res = svc.post(&format!("/api/v1/send?mode=idempotent&eventId=N{i}&sendMode=async&topic={topic}")).await;
        assert_eq!(res.status(), 202);
    }
    let res = svc.post(&format!("/api/v1/send?mode=plain&eventId=X&partition=9&topic={topic}")).await;
    assert_eq!(res.status(), 400);

    let plain_ok = r#"producer_sends_total{mode="plain",send_mode="sync",outcome="ok"}"#;
    let idem_ok = r#"producer_sends_total{mode="idempotent",send_mode="async",outcome="ok"}"#;
    let rejected = r#"producer_sends_total{mode="plain",send_mode="sync",outcome="rejected"}"#;
    let moved = eventually(Duration::from_secs(10), || async {
        let now = svc.get("/metrics").await.text().await.unwrap();
        sample(&now, idem_ok) - sample(&before, idem_ok) == 2.0
    })
    .await;
    assert!(moved, "async deliveries counted");
    let res = svc.get("/metrics").await;
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let after = res.text().await.unwrap();
    assert_eq!(sample(&after, plain_ok) - sample(&before, plain_ok), 3.0, "{after}");
    assert_eq!(sample(&after, rejected) - sample(&before, rejected), 1.0, "{after}");
    assert!(sample(&after, r#"producer_send_latency_seconds_count{mode="plain",send_mode="sync"}"#) >= 3.0);
    for name in [
        "producer_pending_sends",
        "status_store_entries",
        "status_store_evictions_total",
        "fault_proxy_produce_requests_total",
        "lab_runs_total",
    ] {
        assert!(after.contains(name), "{name} exported: {after}");
    }
    let produce_requests = sample(&after, "fault_proxy_produce_requests_total");
    assert!(produce_requests >= 3.0, "each sync send is one Produce request through the proxy: {produce_requests}");
    // librdkafka statistics arrive every 5 s.
    let stats = eventually(Duration::from_secs(12), || async {
        svc.get("/metrics").await.text().await.unwrap().contains(r#"rdkafka_sent_messages_total{producer="plain"}"#)
    })
    .await;
    assert!(stats, "librdkafka statistics exported per producer");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_a_line_per_send() {
    let bin = spawn_binary(&[("LOG_FORMAT", "json"), ("RUST_LOG", "info,producer_reliability=debug")]);
    bin.ready().await;
    let client = reqwest::Client::new();
    let res = client.post(format!("{}/api/v1/send?mode=idempotent&eventId=LOG-1", bin.base())).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let request_id = body["requestId"].as_str().unwrap().to_owned();
    bin.signal(libc::SIGTERM);
    let (status, log) = bin.finish_async().await;
    assert!(status.success());
    let stdout_lines: Vec<&str> = log.lines().take_while(|l| !l.is_empty()).collect();
    assert!(stdout_lines.len() > 3, "{log}");
    for line in &stdout_lines {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    let send_line = stdout_lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no line for {request_id}: {log}"));
    assert_eq!(send_line["level"], "DEBUG");
    assert_eq!(send_line["mode"], "idempotent");
    assert_eq!(send_line["topic"], "bhf-transactions");
    assert_eq!(send_line["partition"], body["partition"]);
    assert_eq!(send_line["offset"], body["offset"]);
    assert!(send_line["latency_ms"].as_f64().is_some(), "{send_line}");
}
