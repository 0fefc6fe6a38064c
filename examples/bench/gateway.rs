//! The bare gateway: the ceiling a Kafka HTTP gateway can reach on this machine. A minimal axum
//! handler that hands the query's record (the seed's value) to the same librdkafka producers,
//! with the same settings, and answers: 202 without waiting, or 200 after the delivery report for
//! sync. No validation, no statuses, no metrics: what HTTP + librdkafka + the broker cost.

use super::Res;
use producer_reliability::model::ProducerMode;
use producer_reliability::server::config::Config;
use producer_reliability::server::kafka::{with_nice, KafkaSettings};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Producers {
    plain: FutureProducer,
    idempotent: FutureProducer,
}

/// The query's `name=value`, undecoded (the bench's URLs need no decoding).
fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|p| p.split_once('=').filter(|(n, _)| *n == name).map(|(_, v)| v))
}

async fn send(producers: Arc<Producers>, uri: axum::http::Uri) -> (axum::http::StatusCode, String) {
    let query = uri.query().unwrap_or("");
    let event_id = param(query, "eventId").unwrap_or("e");
    let mode = param(query, "mode").unwrap_or("idempotent");
    let sync = param(query, "sendMode") != Some("async");
    let topic = param(query, "topic").unwrap_or("bench-bare");
    let ts = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let value = format!(
        r#"{{"eventId":"{event_id}","mode":"{mode}","sendMode":"{}","api":"rust","ts":"{ts}"}}"#,
        if sync { "sync" } else { "async" }
    );
    let producer = if mode == "plain" { &producers.plain } else { &producers.idempotent };
    let mut record = FutureRecord::to(topic).key(event_id).payload(&value);
    // As the service does (KAFKA_MAX_BLOCK_MS): a full local queue slows the caller down rather
    // than failing it, so the ceiling's answers are as honest as the service's.
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        match producer.send_result(record) {
            Ok(delivery) => break delivery,
            Err((e, back))
                if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) && Instant::now() < deadline =>
            {
                record = back;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err((e, _)) => return (axum::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    };
    if !sync {
        return (axum::http::StatusCode::ACCEPTED, format!(r#"{{"eventId":"{event_id}","state":"PENDING"}}"#));
    }
    match delivery.await {
        Ok(Ok(d)) => (
            axum::http::StatusCode::OK,
            format!(r#"{{"eventId":"{event_id}","partition":{},"offset":{}}}"#, d.partition, d.offset),
        ),
        Ok(Err((e, _))) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()),
        Err(_) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "cancelled".into()),
    }
}

/// Serves the bare gateway on `port` until killed (this binary with `--bare-gateway`).
pub async fn serve(port: u16, bootstrap: &str) -> Res<()> {
    let settings = KafkaSettings::new(&Config::defaults(), bootstrap.to_owned());
    // Created as the service creates its producers, their threads niced alike.
    let create = |mode| with_nice(settings.producer_nice, || settings.producer_config(mode).create());
    let producers =
        Arc::new(Producers { plain: create(ProducerMode::Plain)??, idempotent: create(ProducerMode::Idempotent)?? });
    let app = axum::Router::new()
        .route("/api/v1/send", axum::routing::post(move |uri: axum::http::Uri| send(producers.clone(), uri)));
    let listener = producer_reliability::server::http::listen(([127, 0, 0, 1], port).into())?;
    axum::serve(listener, app).await?;
    Ok(())
}
