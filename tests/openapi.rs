//! The OpenAPI description matches the API: every REST endpoint is in it, and real answers
//! (success and error) validate against the schemas it declares for their status codes.

mod common;

use common::{random_topic, start_service, TestService};
use serde_json::{json, Value};

/// Validates a real answer against the spec's schema for (path, method, status).
fn check(spec: &Value, path: &str, method: &str, status: u16, content_type: &str, body: &Value) {
    let response = &spec["paths"][path][method]["responses"][status.to_string()];
    assert!(response.is_object(), "{method} {path} answered {status}, which the spec does not declare");
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let schema = &response["content"][media]["schema"];
    assert!(schema.is_object(), "{method} {path} {status}: no schema for {media} in {response}");
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": spec["components"],
    });
    let validator = jsonschema::validator_for(&root).expect("the spec's schema compiles");
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {path} {status}: {errors:?}\nbody: {body}");
}

/// Calls `url`, asserts the status the case expects, and validates the answer against the
/// spec's schema for that status.
async fn call(
    svc: &TestService,
    spec: &Value,
    (method, path, expected): (&str, &str, u16),
    url: &str,
    body: Option<Value>,
) -> Value {
    let request = match method {
        "get" => svc.client.get(format!("{}{url}", svc.base)),
        "post" => svc.client.post(format!("{}{url}", svc.base)),
        "put" => svc.client.put(format!("{}{url}", svc.base)),
        "delete" => svc.client.delete(format!("{}{url}", svc.base)),
        other => panic!("{other}"),
    };
    let request = match body {
        Some(b) => request.json(&b),
        None => request,
    };
    let res = request.send().await.unwrap();
    let status = res.status().as_u16();
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, expected, "{method} {url}: {body}");
    check(spec, path, method, status, &content_type, &body);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_validate_against_the_openapi_spec() {
    let svc = start_service(&[]).await;
    let spec: Value = svc.get("/api/openapi.json").await.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"), "{}", spec["openapi"]);
    for path in [
        "/health",
        "/health/ready",
        "/api/v1/send",
        "/api/v1/status",
        "/api/v1/recent",
        "/api/v1/lab/runs",
        "/api/v1/lab/runs/{id}",
        "/api/v1/lab/fault",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is documented");
    }
    let topic = random_topic("spec");
    call(&svc, &spec, ("get", "/health/ready", 200), "/health/ready", None).await;
    let sync = call(
        &svc,
        &spec,
        ("post", "/api/v1/send", 200),
        &format!("/api/v1/send?mode=plain&eventId=S1&topic={topic}"),
        None,
    )
    .await;
    let accepted = call(
        &svc,
        &spec,
        ("post", "/api/v1/send", 202),
        &format!("/api/v1/send?mode=idempotent&eventId=S2&sendMode=async&topic={topic}"),
        None,
    )
    .await;
    call(&svc, &spec, ("post", "/api/v1/send", 400), "/api/v1/send?eventId=S3", None).await;
    call(
        &svc,
        &spec,
        ("post", "/api/v1/send", 400),
        &format!("/api/v1/send?mode=plain&eventId=S4&topic={topic}&partition=8"),
        None,
    )
    .await;
    let status_url = format!("/api/v1/status?requestId={}", accepted["requestId"].as_str().unwrap());
    svc.wait_terminal(accepted["requestId"].as_str().unwrap()).await;
    call(&svc, &spec, ("get", "/api/v1/status", 200), &status_url, None).await;
    call(
        &svc,
        &spec,
        ("get", "/api/v1/status", 200),
        &format!("/api/v1/status?requestId={}", sync["requestId"].as_str().unwrap()),
        None,
    )
    .await;
    call(&svc, &spec, ("get", "/api/v1/status", 400), "/api/v1/status", None).await;
    call(
        &svc,
        &spec,
        ("get", "/api/v1/status", 404),
        &format!("/api/v1/status?requestId={}", uuid::Uuid::new_v4()),
        None,
    )
    .await;
    call(&svc, &spec, ("get", "/api/v1/recent", 200), "/api/v1/recent", None).await;

    let run = call(
        &svc,
        &spec,
        ("post", "/api/v1/lab/runs", 200),
        "/api/v1/lab/runs",
        Some(json!({"mode": "plain", "count": 3})),
    )
    .await;
    call(
        &svc,
        &spec,
        ("post", "/api/v1/lab/runs", 400),
        "/api/v1/lab/runs",
        Some(json!({"mode": "plain", "count": 0})),
    )
    .await;
    call(&svc, &spec, ("get", "/api/v1/lab/runs", 200), "/api/v1/lab/runs", None).await;
    let one = format!("/api/v1/lab/runs/{}", run["id"].as_str().unwrap());
    call(&svc, &spec, ("get", "/api/v1/lab/runs/{id}", 200), &one, None).await;
    call(&svc, &spec, ("get", "/api/v1/lab/runs/{id}", 404), "/api/v1/lab/runs/nope", None).await;
    call(&svc, &spec, ("get", "/api/v1/lab/fault", 200), "/api/v1/lab/fault", None).await;
    call(
        &svc,
        &spec,
        ("put", "/api/v1/lab/fault", 200),
        "/api/v1/lab/fault",
        Some(json!({"kind": "broker-unavailable", "durationMs": 1})),
    )
    .await;
    call(&svc, &spec, ("put", "/api/v1/lab/fault", 400), "/api/v1/lab/fault", Some(json!("client-retry"))).await;
    call(&svc, &spec, ("delete", "/api/v1/lab/fault", 200), "/api/v1/lab/fault", None).await;
    svc.server.shutdown().await;
}
