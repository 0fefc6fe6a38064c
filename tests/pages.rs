//! The pages as the server renders them (what a browser without JavaScript sees): each path
//! its page, complete, with the lookup of `?requestId=` resolved on the server.

mod common;

use common::{random_topic, start_service};
use serde_json::Value;

async fn page(svc: &common::TestService, path: &str) -> (u16, String, String) {
    let res = svc.get(path).await;
    let status = res.status().as_u16();
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, content_type, res.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_path_renders_its_page_and_unknown_paths_are_404() {
    let svc = start_service(&[]).await;

    let (status, content_type, body) = page(&svc, "/").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(body.contains(r#"data-testid="send-form""#), "send page has the form");
    assert!(body.contains(r#"<a href="/" aria-current="page">Send</a>"#), "Send is the current page");
    assert!(body.contains("Embedded Tansu"), "the broker badge is rendered on the server");
    assert!(body.contains("/pkg/producer-reliability.wasm"), "the page loads its bundle");

    let (status, _, body) = page(&svc, "/lab").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#"data-testid="lab-run""#), "lab page has its run button");
    assert!(body.contains(r#"<a href="/lab" aria-current="page">Lab</a>"#), "Lab is the current page");
    assert!(!body.contains(r#"data-testid="send-form""#));

    let (status, content_type, body) = page(&svc, "/no-such-page").await;
    assert_eq!(status, 404);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(body.contains("Page not found."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_in_the_address_is_answered_in_the_page() {
    let svc = start_service(&[]).await;
    let topic = random_topic("pages");
    let res = svc.post(&format!("/api/v1/send?mode=idempotent&eventId=EVT-page&sendMode=sync&topic={topic}")).await;
    assert_eq!(res.status(), 200);
    let sent: Value = res.json().await.expect("json");
    let request_id = sent["requestId"].as_str().expect("requestId");
    let offset = sent["offset"].as_i64().expect("offset");

    for query in [format!("requestId={request_id}"), format!("sent={request_id}")] {
        let (status, _, body) = page(&svc, &format!("/?{query}")).await;
        assert_eq!(status, 200);
        let result = body.split(r#"data-testid="lookup-result""#).nth(1).expect("a lookup result in the page");
        assert!(result.contains(&format!(r#"data-testid="offset">{offset}<"#)), "{query}: offset {offset} shown");
    }

    let (_, _, body) = page(&svc, "/?requestId=00000000-0000-0000-0000-000000000000").await;
    assert!(body.contains(r#"data-testid="lookup-error""#), "an unknown id says so");
}

/// The send page once read the broker's resource synchronously while the server rendered it: a
/// clean-clone run of `each_path_renders_its_page_and_unknown_paths_are_404` hung for good, a
/// tokio worker blocked in that read. Many loads at once, each bounded. (This did not reproduce
/// that race against the old page in three runs; it bounds what a hang costs and checks that
/// concurrent renders all answer.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_loads_of_the_send_page_at_once_all_answer() {
    let svc = start_service(&[]).await;
    let loads = (0..64).map(|_| tokio::time::timeout(std::time::Duration::from_secs(20), page(&svc, "/")));
    for answer in futures::future::join_all(loads).await {
        let (status, _, body) = answer.expect("the page answered within 20 s");
        assert_eq!(status, 200);
        assert!(body.contains(r#"data-testid="send-form""#));
    }
}
