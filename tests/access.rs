//! Access control: the bearer token on every API door, the topic allow-list, and secrets that
//! never show.

mod common;

use common::{random_topic, spawn_binary, start_service};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_token_guards_rest_and_server_functions() {
    let svc = start_service(&["--api-token", "s3cr3t-token"]).await;
    let url = format!("{}/api/v1/send?mode=plain&eventId=A1", svc.base);

    let res = svc.client.post(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = svc.client.post(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(res.status(), 401);
    let body = res.text().await.unwrap();
    assert!(!body.contains("s3cr3t-token"), "the token never appears in an answer: {body}");
    let res = svc.client.post(&url).bearer_auth("s3cr3t-token").send().await.unwrap();
    assert_eq!(res.status(), 200);

    let lab = svc.client.get(format!("{}/api/v1/lab/runs", svc.base)).send().await.unwrap();
    assert_eq!(lab.status(), 401, "the lab is guarded too");
    let status = svc.client.get(format!("{}/api/v1/recent", svc.base)).send().await.unwrap();
    assert_eq!(status.status(), 401);

    let form = [("mode", "plain"), ("event_id", "A2")];
    let res = svc.client.post(format!("{}/api/send", svc.base)).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["kind"], "unauthorized");
    let res =
        svc.client.post(format!("{}/api/send", svc.base)).bearer_auth("s3cr3t-token").form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200);

    assert_eq!(svc.get("/health").await.status(), 200, "health stays open for probes");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_topics_refuse_any_other_topic_with_403() {
    let svc = start_service(&["--allowed-topics", "orders-*,bhf-transactions"]).await;
    let res = svc.post("/api/v1/send?mode=plain&eventId=T1&topic=payments").await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("'payments'"), "{body}");
    let topic = random_topic("orders");
    assert_eq!(svc.post(&format!("/api/v1/send?mode=plain&eventId=T2&topic={topic}")).await.status(), 200);
    assert_eq!(svc.post("/api/v1/send?mode=plain&eventId=T3").await.status(), 200, "the default topic is listed");
    let res = svc
        .client
        .post(format!("{}/api/send", svc.base))
        .form(&[("mode", "plain"), ("event_id", "T4"), ("topic", "payments")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "server functions share the policy");
    svc.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_log() {
    let bin = spawn_binary(&[
        ("RUST_LOG", "debug"),
        ("API_TOKEN", "tok-7f3a9c-secret"),
        ("KAFKA_SASL_PASSWORD", "pw-2b8e1d-secret"),
    ]);
    bin.ready().await;
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/api/v1/send?mode=plain&eventId=S1", bin.base()))
        .bearer_auth("tok-7f3a9c-secreX")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .post(format!("{}/api/v1/send?mode=plain&eventId=S2", bin.base()))
        .bearer_auth("tok-7f3a9c-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    bin.signal(libc::SIGTERM);
    let (status, log) = bin.finish_async().await;
    assert!(status.success());
    assert!(log.contains("listening on"), "the log was captured: {log}");
    assert!(!log.contains("tok-7f3a9c-secret"), "API token in the log");
    assert!(!log.contains("pw-2b8e1d-secret"), "SASL password in the log");
}
