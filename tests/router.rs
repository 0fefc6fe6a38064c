//! The router over the in-memory Kafka stand-in (no broker): the access layer guards every
//! `/api` route of both doors, both doors answer the lab alike, the seed's contract holds, and
//! hostile requests that never reach a handler still get problem+json. No claim about Kafka
//! is made here; those tests run against a real broker.

mod common;

use common::in_memory::InMemoryService;
use producer_reliability::server::rest::openapi::ApiDoc;
use serde_json::{json, Value};
use utoipa::OpenApi;

/// Every route of both doors: the REST paths the OpenAPI document lists (templates filled in)
/// and every registered server function.
fn every_api_route() -> Vec<(reqwest::Method, String)> {
    let spec = serde_json::to_value(ApiDoc::openapi()).expect("spec");
    let mut routes = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            routes.push((method, path.replace("{id}", "x")));
        }
    }
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        routes.push((reqwest::Method::from_bytes(method.as_str().as_bytes()).expect("method"), path.to_owned()));
    }
    routes.push((reqwest::Method::GET, "/api/openapi.json".into()));
    routes.push((reqwest::Method::POST, "/api/a-route-added-later".into()));
    routes
}

#[tokio::test]
async fn with_a_token_every_api_route_of_both_doors_is_401_without_it() {
    let svc = InMemoryService::start(&["--api-token", "t0ken"]).await;
    let routes = every_api_route();
    let server_fns = routes.iter().filter(|(_, p)| p.starts_with("/api/") && !p.starts_with("/api/v1/")).count();
    assert!(server_fns >= 8, "the server functions are listed: {routes:?}");
    let mut guarded = 0;
    for (method, path) in &routes {
        if !path.starts_with("/api") {
            continue;
        }
        let res = svc.client.request(method.clone(), svc.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{method} {path} is not guarded");
        guarded += 1;
    }
    assert!(guarded >= 18, "{guarded} routes checked");
    for open in ["/health", "/metrics", "/", "/lab"] {
        assert_eq!(svc.client.get(svc.url(open)).send().await.unwrap().status(), 200, "{open} stays open");
    }
    let res = svc.client.get(svc.url("/api/v1/recent")).bearer_auth("t0ken").send().await.unwrap();
    assert_eq!(res.status(), 200);
    svc.stop().await;
}

/// A page rendered on the server calls the server functions in process: the access layer's
/// verdict holds for them too, so a page requested without the token shows the prompt, not data.
#[tokio::test]
async fn a_page_rendered_without_the_token_shows_the_prompt_and_no_data() {
    let svc = InMemoryService::start(&["--api-token", "t0ken"]).await;
    let res = svc.client.post(svc.url("/api/v1/send?mode=plain&eventId=SECRET-EVT")).bearer_auth("t0ken").send().await;
    assert_eq!(res.unwrap().status(), 200);
    let page = svc.client.get(svc.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"data-testid="token-prompt""#), "the prompt is rendered");
    assert!(!page.contains(r#"data-testid="broker-badge""#), "no broker description without the token");
    assert!(!page.contains("SECRET-EVT"), "no recent send without the token");
    let page = svc.client.get(svc.url("/")).bearer_auth("t0ken").send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"data-testid="broker-badge""#) && page.contains("SECRET-EVT"), "with the token: the data");
    svc.stop().await;
}

/// (status, detail or message, field) of an error answer, whichever door gave it.
async fn error_of(res: reqwest::Response) -> (u16, String, Value) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    let text = body["detail"].as_str().or(body["message"].as_str()).unwrap_or_default().to_owned();
    (status, text, body["field"].clone())
}

#[tokio::test]
async fn both_doors_refuse_a_lab_run_with_the_same_status_message_and_field() {
    let svc = InMemoryService::start(&[]).await;
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (json!({"mode": "plain", "count": 0}), vec![("mode", "plain"), ("count", "0")]),
        (json!({"mode": "plain", "count": "many"}), vec![("mode", "plain"), ("count", "many")]),
        (json!({"mode": "plain", "count": 200_000}), vec![("mode", "plain"), ("count", "200000")]),
        (json!({"count": 5}), vec![("count", "5")]),
        (json!({"mode": "plain", "sendMode": "later"}), vec![("mode", "plain"), ("send_mode", "later")]),
        (json!({"mode": "plain", "fault": "meteor"}), vec![("mode", "plain"), ("fault", "meteor")]),
        (
            json!({"mode": "plain", "fault": {"kind": "delay-produce-response", "delayMs": 500}}),
            vec![("mode", "plain"), ("fault", "delay-produce-response"), ("delay_ms", "500")],
        ),
        (
            json!({"mode": "plain", "fault": {"kind": "drop-connection-after-produce", "produceRequests": 0}}),
            vec![("mode", "plain"), ("fault", "drop-connection-after-produce"), ("produce_requests", "0")],
        ),
        (
            json!({"mode": "plain", "fault": {"kind": "broker-unavailable", "durationMs": 30000}}),
            vec![("mode", "plain"), ("fault", "broker-unavailable"), ("duration_ms", "30000")],
        ),
        // Valid, but this service has no broker: refused alike.
        (json!({"mode": "idempotent", "count": 5}), vec![("mode", "idempotent"), ("count", "5")]),
    ];
    for (body, form) in cases {
        let rest = error_of(svc.client.post(svc.url("/api/v1/lab/runs")).json(&body).send().await.unwrap()).await;
        let server_fn = error_of(svc.client.post(svc.url("/api/lab/start")).form(&form).send().await.unwrap()).await;
        assert!(rest.0 >= 400, "{body}: {rest:?}");
        assert_eq!(rest, server_fn, "{body} answered differently by the two doors");
    }
    let switches: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (json!("client-retry"), vec![("fault", "client-retry")]),
        (
            json!({"kind": "delay-produce-response", "delayMs": 10}),
            vec![("fault", "delay-produce-response"), ("delay_ms", "10")],
        ),
        (json!("none"), vec![("fault", "none")]),
    ];
    for (body, form) in switches {
        let rest = error_of(svc.client.put(svc.url("/api/v1/lab/fault")).json(&body).send().await.unwrap()).await;
        let server_fn =
            error_of(svc.client.post(svc.url("/api/lab/fault/set")).form(&form).send().await.unwrap()).await;
        assert!(rest.0 >= 400, "{body}: {rest:?}");
        assert_eq!(rest, server_fn, "{body} answered differently by the two doors");
    }
    svc.stop().await;
}

#[tokio::test]
async fn the_seed_contract_holds_over_the_in_memory_kafka() {
    let svc = InMemoryService::start(&[]).await;
    let res = svc.client.post(svc.url("/api/v1/send?mode=plain&eventId=E1&topic=t1")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let sync: Value = res.json().await.unwrap();
    assert_eq!((sync["eventId"].as_str(), sync["topic"].as_str()), (Some("E1"), Some("t1")));
    let res = svc
        .client
        .post(svc.url("/api/v1/send?mode=idempotent&eventId=E2&topic=t1&sendMode=async"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let status: Value = svc.client.get(svc.url(&location)).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["state"], "OK", "{status}");
    let records = svc.kafka.records("t1");
    let events: Vec<String> = records
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.value).unwrap()["eventId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events.len(), 2);
    assert!(events.contains(&"E1".to_owned()) && events.contains(&"E2".to_owned()), "{events:?}");
    let recent: Value = svc.client.get(svc.url("/api/v1/recent")).send().await.unwrap().json().await.unwrap();
    assert_eq!(recent.as_array().unwrap().len(), 2);
    let unknown = svc.client.get(svc.url(&format!("/api/v1/status?requestId={}", uuid::Uuid::new_v4()))).send().await;
    assert_eq!(unknown.unwrap().status(), 404);
    let res = svc.client.post(svc.url("/api/v1/send?mode=plain&eventId=E3&topic=t1&partition=7")).send().await.unwrap();
    assert_eq!(res.status(), 400);
    svc.stop().await;
}

/// Sends raw bytes (HTTP clients refuse to build a request line over 64 KB) and reads the whole
/// answer: (status, content type, body).
async fn raw_http(base: &str, request: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    // The server may answer (and close) before it has read everything: a failed write is fine.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_owned))
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

async fn problem(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let content_type = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = res.text().await.unwrap();
    assert_eq!(content_type, "application/problem+json", "{status}: {body}");
    (status, serde_json::from_str(&body).unwrap())
}

/// Issue 13: requests hyper refuses before any handler runs (a request line over 64 KB, a
/// header section over its buffer) and a body far over the limit all get problem+json, which
/// a plain HTTP client reads.
#[tokio::test]
async fn oversized_requests_get_problems_that_name_the_limit() {
    let svc = InMemoryService::start(&[]).await;
    for (query, field, limit) in [
        (format!("mode=plain&eventId={}", "e".repeat(100_000)), "eventId", "at most 256"),
        (format!("mode=plain&eventId=e&key={}", "k".repeat(2_000_000)), "key", "at most 1024"),
    ] {
        let request = format!("POST /api/v1/send?{query} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n");
        let (status, content_type, body) = raw_http(&svc.base, request.as_bytes()).await;
        assert_eq!((status, content_type.as_str()), (400, "application/problem+json"), "{field}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["field"], field, "{body}");
        assert!(body["detail"].as_str().unwrap().contains(limit), "{body}");
    }

    let res = svc.client.get(svc.url("/api/v1/recent")).header("x-padding", "p".repeat(500_000)).send().await.unwrap();
    let (status, body) = problem(res).await;
    assert_eq!(status, 431, "{body}");
    assert!(!body["detail"].as_str().unwrap().is_empty());

    let five_mb = vec![b'x'; 5 * 1024 * 1024];
    let res = svc.client.post(svc.url("/api/v1/send?mode=plain&eventId=e")).body(five_mb.clone()).send().await.unwrap();
    let (status, body) = problem(res).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("1000000 bytes"), "the record value's limit: {body}");
    let res = svc.client.post(svc.url("/api/send")).body(five_mb).send().await.unwrap();
    assert_eq!(res.status(), 413, "server functions too");
    assert!(svc.kafka.records("bhf-transactions").is_empty(), "nothing reached Kafka");
    svc.stop().await;
}
