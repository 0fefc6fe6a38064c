//! Hostile and malformed input: every case is a 4xx problem+json whose detail says what to fix,
//! and nothing reaches Kafka.

mod common;

use common::start_service;
use serde_json::Value;

async fn assert_problem(res: reqwest::Response, status: u16, detail_contains: &str) {
    let got = res.status().as_u16();
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = res.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(content_type, "application/problem+json", "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(!detail.is_empty(), "empty detail: {body}");
    assert!(detail.contains(detail_contains), "detail {detail:?} should contain {detail_contains:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_request_gets_a_4xx_that_says_what_to_fix() {
    // Every refused request would have gone to this topic: it must end up empty (never created).
    let topic = common::random_topic("refused");
    let svc = start_service(&["--kafka-default-topic", &topic]).await;
    let long_id = "e".repeat(257);
    let long_key = "k".repeat(1025);
    let long_topic = "t".repeat(250);
    let query_cases: Vec<(String, &str)> = vec![
        (format!("mode=plain&eventId={long_id}"), "eventId is too long"),
        (format!("mode=plain&eventId=e&key={long_key}"), "key is too long"),
        (format!("mode=plain&eventId=e&topic={long_topic}"), "topic is too long"),
        ("mode=plain&eventId=a%00b".into(), "control character"),
        ("mode=plain&eventId=a%0Ab".into(), "control character"),
        ("mode=plain&eventId=e&key=%1B%5B31m".into(), "control character"),
        ("mode=plain&eventId=%FF%FE".into(), "not valid UTF-8"),
        ("mode=%C3%28&eventId=e".into(), "not valid UTF-8"),
        ("mode=plain&mode=idempotent&eventId=e".into(), "more than once"),
        ("mode=plain&eventId=e&eventId=f".into(), "more than once"),
        ("mode=plain&eventId=e&partition=2147483648".into(), "partition"),
        ("mode=plain&eventId=e&partition=%20-3".into(), "partition"),
        ("mode=plain&eventId=e&topic=a%2Fb".into(), "only letters"),
        ("mode=plain&eventId=e&topic=__transaction_state".into(), "internal"),
        ("mode=plain&eventId=e&sendMode=SYNCHRONOUS".into(), "sendMode"),
        ("mode=%22%3E%3Cscript%3E&eventId=e".into(), "Unknown mode"),
    ];
    for (query, detail) in &query_cases {
        let res = svc.post(&format!("/api/v1/send?{query}")).await;
        assert_problem(res, 400, detail).await;
    }

    // A JSON body that is not the record envelope, a header name that is empty, a value too large.
    let send = format!("{}/api/v1/send?mode=plain&eventId=e", svc.base);
    let json = |body: &'static str| svc.client.post(&send).header("content-type", "application/json").body(body).send();
    assert_problem(json(r#"{"val": 1}"#).await.unwrap(), 400, "\"value\"").await;
    assert_problem(json(r#"{"value": 1, "headers": {"": "x"}}"#).await.unwrap(), 400, "header name").await;
    let res = svc.client.post(&send).body(vec![b'x'; 1_100_000]).send().await.unwrap();
    assert_problem(res, 413, "1000000 bytes").await;
    // A wrong content type on a JSON endpoint, then bad JSON, then a body that does not fit.
    let lab = format!("{}/api/v1/lab/runs", svc.base);
    let res = svc.client.post(&lab).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_problem(res, 415, "application/json").await;
    let res = svc.client.post(&lab).header("content-type", "application/json").body("{").send().await.unwrap();
    assert_problem(res, 400, "not valid JSON").await;
    let res = svc.client.post(&lab).json(&serde_json::json!({"mode": "plain", "count": "many"})).send().await.unwrap();
    assert_problem(res, 400, "count").await;
    let res = svc.client.post(&lab).json(&serde_json::json!({"mode": "plain", "count": 0})).send().await.unwrap();
    assert_problem(res, 400, "count must be").await;
    let res = svc
        .client
        .post(&lab)
        .json(&serde_json::json!({"mode": "plain", "count": 5, "fault": "meteor"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "fault").await;
    // Unknown path, wrong method.
    assert_problem(svc.get("/api/v1/nope").await, 404, "/api/v1/nope").await;
    assert_problem(svc.get("/api/v1/send?mode=plain&eventId=e").await, 405, "GET").await;
    let res = svc.client.delete(format!("{}/api/v1/status?requestId=x", svc.base)).send().await.unwrap();
    assert_problem(res, 405, "DELETE").await;
    // Status: a body, a bad id.
    let res = svc.client.get(format!("{}/api/v1/status?requestId=x", svc.base)).body("x").send().await.unwrap();
    assert_problem(res, 400, "query string").await;

    // Nothing of it reached Kafka: the topic holds no record (it was not even created), and no
    // send was recorded.
    let topics = svc.server.state().send.topics().list().await.unwrap();
    assert!(!topics.contains(&topic), "{topic} was created: {topics:?}");
    let records = common::read_topic(&svc.bootstrap(), &topic, 3, &[], std::time::Duration::from_millis(500)).await;
    assert!(records.is_empty(), "{} record(s) reached Kafka", records.len());
    let recent: Value = svc.get("/api/v1/recent").await.json().await.unwrap();
    assert_eq!(recent.as_array().unwrap().len(), 0, "{recent}");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_functions_answer_bad_input_with_the_same_typed_message() {
    let svc = start_service(&[]).await;
    let res = svc
        .client
        .post(format!("{}/api/send", svc.base))
        .form(&[("mode", "plain"), ("partition", "-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["kind"], "invalid");
    assert_eq!(body["message"], "Missing: eventId");
    let res = svc
        .client
        .post(format!("{}/api/send", svc.base))
        .form(&[("mode", "plain"), ("event_id", "e"), ("partition", "-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["field"], "partition");
    assert_eq!(body["message"], "Invalid partition '-1': expected an integer >= 0");
    // An argument that cannot be decoded is a 400 with a message too, not a 500 text/plain.
    let res = svc
        .client
        .post(format!("{}/api/send", svc.base))
        .body("mode[x]=%%")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    let body: Value = res.json().await.unwrap();
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    svc.server.shutdown().await;
}
