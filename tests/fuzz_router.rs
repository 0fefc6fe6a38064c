//! 10,000 generated requests against the real router (real broker behind it): no 5xx, no
//! panic, and every 4xx says what is wrong.

mod common;

use axum::body::Body;
use axum::http::{Method, Request};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tower::ServiceExt;

const CASES: u32 = 10_000;

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("plain".to_owned()),
        Just("IDEMPOTENT".to_owned()),
        Just("async".to_owned()),
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("fuzz-topic".to_owned()),
        Just("__consumer_offsets".to_owned()),
        "[a-zA-Z0-9._-]{1,12}",
        "\\PC{0,40}",
        ".{0,300}",
        "[0-9]{1,25}",
    ]
}

fn encode(raw: &str) -> String {
    percent_encoding::utf8_percent_encode(raw, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn query() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("mode"),
        Just("eventId"),
        Just("topic"),
        Just("sendMode"),
        Just("key"),
        Just("partition"),
        Just("requestId"),
        Just("event_id"),
        Just("x"),
    ];
    let pair = (name, value(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..4)).prop_map(
        |(n, v, raw_bytes, bytes)| {
            if raw_bytes {
                // Raw percent-encoded bytes: often invalid UTF-8.
                format!("{n}={}{}", encode(&v), bytes.iter().map(|b| format!("%{b:02X}")).collect::<String>())
            } else {
                format!("{n}={}", encode(&v))
            }
        },
    );
    proptest::collection::vec(pair, 0..7).prop_map(|pairs| pairs.join("&"))
}

/// An `Idempotency-Key` header's raw bytes, or none: keys that repeat (so some requests replay
/// or conflict), quoted ones, too long, and bytes that are not printable ASCII.
fn idempotency_key() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(b"fuzz-key".to_vec())),
        1 => "[a-c]{1,2}".prop_map(|k| Some(k.into_bytes())),
        1 => "\"[ -~]{0,20}\"?".prop_map(|k| Some(k.into_bytes())),
        1 => "[ -~]{0,300}".prop_map(|k| Some(k.into_bytes())),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Some),
    ]
}

type Generated = (Method, String, String, Vec<u8>, Option<&'static str>, Option<Vec<u8>>);

fn request() -> impl Strategy<Value = Generated> {
    let method = prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::PUT), Just(Method::DELETE)];
    let path = prop_oneof![
        Just("/api/v1/send"),
        Just("/api/v1/status"),
        Just("/api/v1/recent"),
        Just("/api/v1/lab/runs/abc"),
        Just("/api/v1/nothing"),
        Just("/api/send"),
        Just("/api/status"),
        Just("/api/recent"),
        Just("/health"),
    ];
    let body = prop_oneof![
        3 => Just(Vec::new()),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => query().prop_map(String::into_bytes),
    ];
    let content_type =
        prop_oneof![Just(None), Just(Some("application/x-www-form-urlencoded")), Just(Some("application/json"))];
    (method, path, query(), body, content_type, idempotency_key())
        .prop_map(|(m, p, q, b, c, k)| (m, p.to_owned(), q, b, c, k))
}

#[test]
fn ten_thousand_generated_requests_get_no_5xx_and_every_4xx_has_a_detail() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let svc = runtime.block_on(common::start_service(&["--kafka-delivery-timeout-ms", "10000"]));
    let state = svc.server.state().clone();
    let router = runtime.block_on(async { producer_reliability::server::router::app(state, Duration::from_secs(20)) });
    let (sent, client_errors) = (AtomicU64::new(0), AtomicU64::new(0));
    let mut runner =
        TestRunner::new(RunnerConfig { cases: CASES, failure_persistence: None, ..RunnerConfig::default() });
    let result = runner.run(&request(), |(method, path, query, body, content_type, key)| {
        let uri = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        let mut builder = Request::builder().method(method.clone()).uri(&uri);
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        // Bytes HTTP itself cannot carry in a header (CR, LF, NUL) never reach a server.
        if let Some(value) = key.and_then(|k| axum::http::HeaderValue::from_bytes(&k).ok()) {
            builder = builder.header("idempotency-key", value);
        }
        let request = builder.body(Body::from(body)).unwrap();
        let (status, text) = runtime.block_on(async {
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        });
        sent.fetch_add(1, Ordering::Relaxed);
        prop_assert!(!status.is_server_error(), "{method} {uri} -> {status}: {text}");
        if status.is_client_error() {
            client_errors.fetch_add(1, Ordering::Relaxed);
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{method} {uri} -> {status}, not JSON ({e}): {text}")))?;
            let detail = json["detail"].as_str().or_else(|| json["message"].as_str()).unwrap_or_default();
            prop_assert!(!detail.is_empty(), "{method} {uri} -> {status} without detail: {text}");
        }
        Ok(())
    });
    println!(
        "fuzz: {} requests, {} answered 4xx with a detail, 0 answered 5xx",
        sent.load(Ordering::Relaxed),
        client_errors.load(Ordering::Relaxed)
    );
    result.unwrap();
    assert_eq!(sent.load(Ordering::Relaxed), u64::from(CASES));
    runtime.block_on(svc.server.shutdown());
}
