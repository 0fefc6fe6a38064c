//! The seed tutorial's REST contract, against the real service and a real Tansu broker:
//! every request of its `requests.http` and the records it leaves in Kafka.

mod common;

use common::{random_topic, read_topic, start_service};
use serde_json::Value;
use std::time::Duration;

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_ok() {
    let svc = start_service(&[]).await;
    let res = svc.get("/health").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("OK"));
    let ready = svc.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["kind"], "embedded");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_and_send_mode_lands_in_the_topic_as_reported() {
    let svc = start_service(&[]).await;
    let topic = random_topic("contract");
    let mut sent = Vec::new();
    for mode in ["plain", "idempotent"] {
        for send_mode in ["sync", "async"] {
            let event_id = format!("EVT-{mode}-{send_mode}");
            let res = svc
                .post(&format!("/api/v1/send?mode={mode}&eventId={event_id}&sendMode={send_mode}&topic={topic}"))
                .await;
            let (partition, offset) = if send_mode == "sync" {
                assert_eq!(res.status(), 200);
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["eventId"], event_id.as_str());
                assert_eq!(body["mode"], mode);
                assert_eq!(body["sendMode"], "sync");
                assert_eq!(body["topic"], topic.as_str());
                assert_eq!(body["key"], event_id.as_str(), "key defaults to eventId");
                (body["partition"].as_i64().unwrap(), body["offset"].as_i64().unwrap())
            } else {
                assert_eq!(res.status(), 202);
                let location = res.headers()["location"].to_str().unwrap().to_owned();
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["state"], "PENDING");
                assert_eq!(body["partition"], Value::Null, "partition is null when not given");
                let request_id = body["requestId"].as_str().unwrap().to_owned();
                assert_eq!(location, format!("/api/v1/status?requestId={request_id}"));
                let status = svc.wait_terminal(&request_id).await;
                assert_eq!(status["state"], "OK", "{status}");
                assert_eq!(status["eventId"], event_id.as_str());
                assert_eq!(status["mode"], mode);
                assert_eq!(status["topic"], topic.as_str());
                (status["partition"].as_i64().unwrap(), status["offset"].as_i64().unwrap())
            };
            sent.push((event_id, mode, send_mode, partition as i32, offset));
        }
    }
    let wanted: Vec<(i32, i64)> = sent.iter().map(|s| (s.3, s.4)).collect();
    let records = read_topic(&svc.bootstrap(), &topic, 3, &wanted, Duration::from_secs(1)).await;
    assert_eq!(records.len(), 4, "exactly the four sends are in the topic: {records:?}");
    for (event_id, mode, send_mode, partition, offset) in &sent {
        let record = records
            .iter()
            .find(|r| r.partition == *partition && r.offset == *offset)
            .unwrap_or_else(|| panic!("no record at {partition}/{offset} for {event_id}"));
        assert_eq!(record.key, event_id.as_bytes());
        let value: Value = serde_json::from_slice(&record.value).unwrap();
        assert_eq!(value["eventId"], event_id.as_str());
        assert_eq!(value["mode"], *mode);
        assert_eq!(value["sendMode"], *send_mode);
        assert_eq!(value["api"], "rust");
        let ts = value["ts"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.contains('T'), "RFC 3339 UTC: {ts}");
        assert_eq!(value.as_object().unwrap().len(), 5, "exactly eventId, mode, sendMode, api, ts");
    }
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_requests_work_unchanged_on_the_default_topic() {
    let svc = start_service(&[]).await;
    let res = svc.post("/api/v1/send?mode=plain&eventId=EVT-001&sendMode=sync").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["topic"], "bhf-transactions");
    let res = svc.post("/api/v1/send?mode=idempotent&eventId=EVT-002&sendMode=sync").await;
    assert_eq!(res.status(), 200);
    let res = svc.post("/api/v1/send?mode=idempotent&eventId=EVT-003&sendMode=async").await;
    assert_eq!(res.status(), 202);
    let res = svc.post("/api/v1/send?mode=idempotent&eventId=TEST-1").await;
    assert_eq!(res.status(), 200, "sendMode defaults to sync");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_and_partition_are_honoured() {
    let svc = start_service(&[]).await;
    let topic = random_topic("keyed");
    let res = svc.post(&format!("/api/v1/send?mode=plain&eventId=E1&key=customer-7&partition=2&topic={topic}")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["key"], "customer-7");
    assert_eq!(body["partition"], 2);
    let offset = body["offset"].as_i64().unwrap();
    let records = read_topic(&svc.bootstrap(), &topic, 3, &[(2, offset)], Duration::from_secs(1)).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key, b"customer-7");
    assert_eq!(records[0].partition, 2);
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_quotes_and_backslashes_round_trip_byte_for_byte() {
    let svc = start_service(&[]).await;
    let topic = random_topic("unicode");
    let event_id = "é\"quoted\" \\back\\slash 🚀 {\"json\":1} 日本語 \u{202e}rtl";
    let res = svc.post(&format!("/api/v1/send?mode=idempotent&eventId={}&topic={topic}", enc(event_id))).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["eventId"], event_id);
    let wanted = [(body["partition"].as_i64().unwrap() as i32, body["offset"].as_i64().unwrap())];
    let records = read_topic(&svc.bootstrap(), &topic, 3, &wanted, Duration::from_secs(1)).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key, event_id.as_bytes(), "key bytes are the eventId's UTF-8");
    let value: Value = serde_json::from_slice(&records[0].value).unwrap();
    assert_eq!(value["eventId"].as_str().unwrap().as_bytes(), event_id.as_bytes());
    svc.server.shutdown().await;
}

async fn assert_problem(res: reqwest::Response, status: u16, detail_contains: &str) -> Value {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(detail_contains), "detail {detail:?} should contain {detail_contains:?}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_400_problems_that_say_what_to_fix() {
    let svc = start_service(&[]).await;
    let cases: &[(&str, &str)] = &[
        ("eventId=E", "Missing: mode (plain|idempotent)"),
        ("mode=&eventId=E", "Missing: mode (plain|idempotent)"),
        ("mode=fast&eventId=E", "'fast'"),
        ("mode=plain", "Missing: eventId"),
        ("mode=plain&eventId=%20%20", "Missing: eventId"),
        ("mode=plain&eventId=E&topic=bad%20topic", "topic"),
        ("mode=plain&eventId=E&topic=..", "topic"),
        ("mode=plain&eventId=E&topic=__consumer_offsets", "internal"),
        ("mode=plain&eventId=E&sendMode=later", "'later'"),
        ("mode=plain&eventId=E&partition=-1", "partition '-1'"),
        ("mode=plain&eventId=E&partition=abc", "partition 'abc'"),
        ("mode=plain&eventId=E&partition=1.5", "partition '1.5'"),
    ];
    for (query, detail) in cases {
        let res = svc.post(&format!("/api/v1/send?{query}")).await;
        assert_problem(res, 400, detail).await;
    }
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_the_topic_lacks_is_a_4xx_naming_it() {
    let svc = start_service(&[]).await;
    let topic = random_topic("parts");
    let res = svc.post(&format!("/api/v1/send?mode=plain&eventId=E&topic={topic}&partition=7")).await;
    let body = assert_problem(res, 400, "Partition 7").await;
    assert!(body["detail"].as_str().unwrap().contains(&topic));
    assert_eq!(body["field"], "partition");
    let res = svc.post(&format!("/api/v1/send?mode=plain&eventId=E&topic={topic}&partition=7&sendMode=async")).await;
    assert_problem(res, 400, "Partition 7").await;
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_requires_a_known_request_id() {
    let svc = start_service(&[]).await;
    assert_problem(svc.get("/api/v1/status").await, 400, "Missing: requestId").await;
    assert_problem(svc.get("/api/v1/status?requestId=").await, 400, "Missing: requestId").await;
    assert_problem(svc.get("/api/v1/status?requestId=nope").await, 400, "'nope'").await;
    let unknown = uuid::Uuid::new_v4();
    assert_problem(svc.get(&format!("/api/v1/status?requestId={unknown}")).await, 404, &unknown.to_string()).await;
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_sends_are_listed_with_their_status_too() {
    let svc = start_service(&[]).await;
    let res = svc.post("/api/v1/send?mode=plain&eventId=LISTED").await;
    let body: Value = res.json().await.unwrap();
    let id = body["requestId"].as_str().unwrap();
    let status: Value = svc.get(&format!("/api/v1/status?requestId={id}")).await.json().await.unwrap();
    assert_eq!(status["state"], "OK");
    assert_eq!(status["offset"], body["offset"]);
    let recent: Value = svc.get("/api/v1/recent").await.json().await.unwrap();
    assert_eq!(recent[0]["eventId"], "LISTED");
    svc.server.shutdown().await;
}
