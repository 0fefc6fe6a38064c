//! The caller's own records on a real Tansu: a value and headers on `/api/v1/send`, read back
//! exactly; batches (JSON and streamed NDJSON), each record answered on its own.

mod common;

use common::{eventually, random_topic, read_topic, start_broker, start_service, ReadRecord};
use serde_json::{json, Value};
use std::time::Duration;

// The service's allocator and its settings, as in the binary: the streamed batch's memory is
// measured in this process.
producer_reliability::use_jemalloc!();

const QUIET: Duration = Duration::from_millis(300);

/// The streamed batch measures this process's peak memory: the other tests wait while it runs.
static MEMORY_MEASURED: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn header<'a>(record: &'a ReadRecord, name: &str) -> Option<&'a str> {
    record.header(name).and_then(|v| std::str::from_utf8(v).ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_value_with_headers_and_a_raw_value_are_read_back_exactly() {
    let _quiet = MEMORY_MEASURED.read().await;
    let svc = start_service(&[]).await;
    let topic = random_topic("own");
    let value = r#"{"amount": 12.5, "currency":"EUR", "tags": ["a", "é"]}"#;
    let body = format!(r#"{{"value": {value}, "headers": {{"trace-id": "t-1", "source": "billing"}}}}"#);
    let res = svc
        .client
        .post(format!("{}/api/v1/send?mode=idempotent&eventId=OWN-1&key=acct-9&topic={topic}", svc.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let first: Value = res.json().await.expect("json");
    let res = svc
        .client
        .post(format!("{}/api/v1/send?mode=plain&eventId=OWN-2&topic={topic}", svc.base))
        .header("content-type", "text/plain; charset=utf-8")
        .body("plain text, not JSON")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.expect("json");

    let offsets: Vec<(i32, i64)> = [&first, &second]
        .iter()
        .map(|r| (r["partition"].as_i64().unwrap_or(-1) as i32, r["offset"].as_i64().unwrap_or(-1)))
        .collect();
    let records = read_topic(&svc.bootstrap(), &topic, 3, &offsets, QUIET).await;
    let own = records.iter().find(|r| r.key == b"acct-9").expect("the JSON record");
    assert_eq!(own.value, value.as_bytes(), "the value byte for byte");
    assert_eq!((header(own, "trace-id"), header(own, "source")), (Some("t-1"), Some("billing")));
    let raw = records.iter().find(|r| r.key == b"OWN-2").expect("the raw record");
    assert_eq!(raw.value, b"plain text, not JSON");
    assert_eq!(header(raw, "content-type"), Some("text/plain; charset=utf-8"));

    let status: Value = svc
        .get(&format!("/api/v1/status?requestId={}", first["requestId"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["record"]["valueBytes"], value.len());
    assert_eq!(status["record"]["headers"]["trace-id"], "t-1", "{status}");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_over_the_limit_is_413_and_nothing_is_written() {
    let _quiet = MEMORY_MEASURED.read().await;
    let svc = start_service(&[]).await;
    let topic = random_topic("big");
    let res = svc
        .client
        .post(format!("{}/api/v1/send?mode=plain&eventId=BIG&topic={topic}", svc.base))
        .header("content-type", "application/octet-stream")
        .body(vec![b'x'; 1_000_001])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 413);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("1000000"), "names the limit: {problem}");
    // A record sent after it is the topic's first.
    let res = svc.post(&format!("/api/v1/send?mode=plain&eventId=AFTER&topic={topic}")).await;
    let after: Value = res.json().await.unwrap();
    let records =
        read_topic(&svc.bootstrap(), &topic, 3, &[(after["partition"].as_i64().unwrap() as i32, 0)], QUIET).await;
    let keys: Vec<&[u8]> = records.iter().map(|r| r.key.as_slice()).collect();
    assert_eq!(keys, [b"AFTER".as_slice()], "nothing of the refused send was written");
    svc.server.shutdown().await;
}

async fn post_batch(svc: &common::TestService, body: Value) -> (u16, Value) {
    let res = svc.client.post(format!("{}/api/v1/batches", svc.base)).json(&body).send().await.expect("batch");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_batch_of_1000_answers_in_order_and_writes_every_record() {
    let _quiet = MEMORY_MEASURED.read().await;
    let svc = start_service(&[]).await;
    let topic = random_topic("batch");
    let records: Vec<Value> = (0..1000).map(|i| json!({"eventId": format!("B-{i}"), "value": {"n": i}})).collect();
    let (status, answer) = post_batch(&svc, json!({"mode": "idempotent", "topic": topic, "records": records})).await;
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 1000);
    assert_eq!((answer["succeeded"].as_u64(), answer["failed"].as_u64()), (Some(1000), Some(0)));
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i, "in order");
        assert!(r["offset"].is_i64() && r["requestId"].is_string(), "{r}");
    }
    let offsets: Vec<(i32, i64)> =
        results.iter().map(|r| (r["partition"].as_i64().unwrap() as i32, r["offset"].as_i64().unwrap())).collect();
    let read = read_topic(&svc.bootstrap(), &topic, 3, &offsets, QUIET).await;
    assert_eq!(read.len(), 1000);
    let mut values: Vec<String> = read.iter().map(|r| String::from_utf8_lossy(&r.value).into_owned()).collect();
    values.sort();
    let mut expected: Vec<String> = (0..1000).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    expected.sort();
    assert_eq!(values, expected, "every record with its value");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_records_fail_alone_and_an_async_batch_is_followed_to_ok() {
    let _quiet = MEMORY_MEASURED.read().await;
    let svc = start_service(&[]).await;
    let topic = random_topic("mixed");
    let mut records: Vec<Value> = (0..100).map(|i| json!({"eventId": format!("M-{i}"), "value": i})).collect();
    records[10] = json!({"value": 1});
    records[50] = json!({"eventId": "M-50", "partition": -1});
    records[99] = json!({"eventId": "M-99", "key": "a\u{0}b"});
    let (status, answer) = post_batch(&svc, json!({"mode": "plain", "topic": topic, "records": records})).await;
    assert_eq!(status, 200);
    assert_eq!((answer["succeeded"].as_u64(), answer["failed"].as_u64()), (Some(97), Some(3)));
    let errors: Vec<(u64, String)> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["error"].is_object())
        .map(|r| (r["index"].as_u64().unwrap(), r["error"]["field"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(errors, [(10, "eventId".into()), (50, "partition".into()), (99, "key".into())]);
    let offsets: Vec<(i32, i64)> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["offset"].is_i64())
        .map(|r| (r["partition"].as_i64().unwrap() as i32, r["offset"].as_i64().unwrap()))
        .collect();
    assert_eq!(read_topic(&svc.bootstrap(), &topic, 3, &offsets, QUIET).await.len(), 97, "97 written");

    let records: Vec<Value> = (0..200).map(|i| json!({"eventId": format!("A-{i}")})).collect();
    let res = svc
        .client
        .post(format!("{}/api/v1/batches", svc.base))
        .json(&json!({"mode": "idempotent", "sendMode": "async", "topic": topic, "records": records}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let settled = eventually(Duration::from_secs(30), || async {
        let batch: Value = svc.get(&location).await.json().await.unwrap_or(Value::Null);
        batch["counts"]["ok"] == 200
    })
    .await;
    let batch: Value = svc.get(&location).await.json().await.unwrap();
    assert!(settled, "every record of the async batch reached OK: {}", batch["counts"]);
    let c = &batch["counts"];
    let sum: u64 = ["pending", "ok", "error", "unknown", "rejected"].iter().map(|k| c[k].as_u64().unwrap()).sum();
    assert_eq!((sum, batch["records"].as_u64()), (200, Some(200)), "the counts add up");
    svc.server.shutdown().await;
}

/// A batch whose statuses aged out of the store is answered with one catch-up for the whole
/// batch, not one per status missing (a batch of 10,000 would have taken minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_statuses_aged_out_is_answered_with_one_catch_up() {
    let _quiet = MEMORY_MEASURED.read().await;
    let svc = start_service(&["--status-store-capacity", "40"]).await;
    let records: Vec<Value> = (0..100).map(|i| json!({"eventId": format!("G-{i}")})).collect();
    let body = json!({"mode": "plain", "sendMode": "async", "topic": random_topic("aged"), "records": records});
    let res = svc.client.post(format!("{}/api/v1/batches", svc.base)).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    // Every record ends; the store keeps the last 40 statuses only.
    let ended = eventually(Duration::from_secs(30), || async {
        let batch: Value = svc.get(&location).await.json().await.unwrap_or(Value::Null);
        batch["counts"]["pending"] == 0
    });
    assert!(ended.await, "every record of the batch ended");
    let rounds = || async {
        let metrics = svc.get("/metrics").await.text().await.unwrap_or_default();
        common::metric_value(&metrics, "state_catch_up_rounds_total").expect("the catch-up rounds counter")
    };
    let before = rounds().await;
    let batch: Value = svc.get(&location).await.json().await.unwrap();
    let after = rounds().await;
    let aged_out = batch["statuses"].as_array().unwrap().iter().filter(|s| s["error"]["status"] == 404).count();
    assert!(aged_out >= 60, "{aged_out} statuses no longer kept: {}", batch["counts"]);
    assert!(after - before <= 1, "{} catch-up rounds for one batch lookup", after - before);
    svc.server.shutdown().await;
}

/// Peak resident memory of this process (the service runs in it), in kB; `reset` starts afresh.
fn peak_rss_kb(reset: bool) -> u64 {
    if reset {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mb_ndjson_batch_is_streamed_and_every_record_written() {
    let _alone = MEMORY_MEASURED.write().await;
    let broker = start_broker().await;
    let bootstrap = broker.bootstrap();
    let svc = start_service(&["--kafka-bootstrap-servers", &bootstrap]).await;
    let topic = random_topic("ndjson");
    // 2,000 records of 10 KB: the body's size is values, not per-record bookkeeping.
    const RECORDS: usize = 2_000;
    let filler = "x".repeat(10_000);
    let lines = futures::stream::iter((0..RECORDS).map(move |i| {
        let line = format!("{{\"eventId\":\"N-{i}\",\"value\":\"{filler}\"}}\n");
        Ok::<_, std::io::Error>(bytes::Bytes::from(line))
    }));
    let body_bytes = RECORDS * 10_030;
    let before = peak_rss_kb(true);
    let res = svc
        .client
        .post(format!("{}/api/v1/batches?mode=plain&sendMode=sync&topic={topic}", svc.base))
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(lines))
        .send()
        .await
        .expect("batch");
    // The answer comes once every record was sent: measured before this test parses it.
    let growth_kb = peak_rss_kb(false).saturating_sub(before);
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["succeeded"].as_u64(), Some(RECORDS as u64), "{}", answer["failed"]);
    println!("{body_bytes} bytes of NDJSON: peak RSS grew {growth_kb} kB");
    // Buffered whole, the body alone would be 20 MB; streamed, what grows is the allocator's
    // caches and the records in flight (4.7-5.7 MB measured with jemalloc, alone in the process).
    assert!(growth_kb * 1024 < body_bytes as u64 / 2, "streamed, not buffered: grew {growth_kb} kB");
    let offsets: Vec<(i32, i64)> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["partition"].as_i64().unwrap() as i32, r["offset"].as_i64().unwrap()))
        .collect();
    assert_eq!(read_topic(&bootstrap, &topic, 3, &offsets, QUIET).await.len(), RECORDS);
    svc.server.shutdown().await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_records_is_413_and_nothing_is_sent() {
    let _quiet = MEMORY_MEASURED.read().await;
    let svc = start_service(&["--batch-max-records", "5"]).await;
    let topic = random_topic("toomany");
    let records: Vec<Value> = (0..6).map(|i| json!({"eventId": format!("T-{i}")})).collect();
    let (status, problem) = post_batch(&svc, json!({"mode": "plain", "topic": topic, "records": records})).await;
    assert_eq!(status, 413, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("BATCH_MAX_RECORDS"), "{problem}");
    let topics: Value = svc.get("/health/ready").await.json().await.unwrap();
    assert!(!topics["topics"].to_string().contains(&topic), "nothing sent, not even the topic made: {topics}");
    svc.server.shutdown().await;
}
