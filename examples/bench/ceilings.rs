//! The two things that bound the service: the broker through raw rdkafka, and bare HTTP.

use super::Res;
use producer_reliability::model::{ProducerMode, SendMode};
use producer_reliability::server::kafka::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, FutureProducer, FutureRecord, Producer, ThreadedProducer};
use std::time::{Duration, Instant};

const RAW_MESSAGES: usize = 100_000;
const AWAIT_SAMPLES: usize = 2_000;

/// The same JSON value the service writes, so both sides send records of one size.
fn record_value(event_id: &str, mode: ProducerMode, send_mode: SendMode) -> String {
    serde_json::json!({"eventId": event_id, "mode": mode.as_str(), "sendMode": send_mode.as_str(), "api": "rust",
        "ts": "2026-11-26T12:00:00.123456789Z"})
    .to_string()
}

pub async fn create_topic(settings: &KafkaSettings, topic: &str) -> Res<()> {
    let admin: AdminClient<DefaultClientContext> = settings.client_config().create()?;
    let new_topic = NewTopic::new(topic, 3, TopicReplication::Fixed(1));
    for result in admin.create_topics([&new_topic], &AdminOptions::new()).await? {
        result.map_err(|(topic, code)| format!("cannot create {topic}: {code}"))?;
    }
    Ok(())
}

/// Raw rdkafka, fire-and-forget then flush: the broker's and librdkafka's ceiling.
pub fn kafka_ceiling(settings: &KafkaSettings, mode: ProducerMode, topic: &str) -> Res<f64> {
    let producer: ThreadedProducer<DefaultProducerContext> = settings.producer_config(mode).create()?;
    let started = Instant::now();
    for i in 0..RAW_MESSAGES {
        let key = format!("k{:011}", i);
        let value = record_value(&key, mode, SendMode::Async);
        let mut record = BaseRecord::to(topic).key(&key).payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(RAW_MESSAGES as f64 / started.elapsed().as_secs_f64())
}

/// Raw rdkafka, one record at a time, each awaited: the floor under a sync send's latency.
pub async fn produce_await_p50(settings: &KafkaSettings, mode: ProducerMode, topic: &str) -> Res<f64> {
    let producer: FutureProducer = settings.producer_config(mode).create()?;
    let mut samples = Vec::with_capacity(AWAIT_SAMPLES);
    for i in 0..AWAIT_SAMPLES {
        let key = format!("a{:011}", i);
        let value = record_value(&key, mode, SendMode::Sync);
        let started = Instant::now();
        producer
            .send(FutureRecord::to(topic).key(&key).payload(&value), Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    Ok(samples[samples.len() / 2])
}

/// Raw rdkafka with `concurrency` sends awaited at once, for `seconds`: what a sync send at that
/// many connections could reach if HTTP cost nothing (the broker's round trips bound it).
pub async fn produce_await_concurrent(
    settings: &KafkaSettings,
    mode: ProducerMode,
    topic: &str,
    concurrency: usize,
    seconds: u32,
) -> Res<f64> {
    let producer: FutureProducer = settings.producer_config(mode).create()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds.into());
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (producer, topic) = (producer.clone(), topic.to_owned());
        workers.spawn(async move {
            let mut sent = 0u64;
            while Instant::now() < deadline {
                let key = format!("c{worker:03}{sent:08}");
                let value = record_value(&key, mode, SendMode::Sync);
                let record = FutureRecord::to(&topic).key(&key).payload(&value);
                producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e.to_string())?;
                sent += 1;
            }
            Ok::<u64, String>(sent)
        });
    }
    let mut total = 0;
    while let Some(done) = workers.join_next().await {
        total += done??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// A bare axum server answering every POST with a 202 and a body as large as the service's.
pub async fn serve_http_ceiling(port: u16) -> Res<()> {
    let body = serde_json::json!({"requestId": "0b6e2c7e-6c1f-4f43-9b4e-2b1b5c0d2f11", "state": "PENDING",
        "eventId": "abcdefghijkl", "mode": "idempotent", "sendMode": "async", "topic": "bench-0000000000",
        "key": "abcdefghijkl", "partition": null})
    .to_string();
    let app =
        axum::Router::new().route(
            "/api/v1/send",
            axum::routing::post(move || {
                let body = body.clone();
                async move {
                    (axum::http::StatusCode::ACCEPTED, [(axum::http::header::CONTENT_TYPE, "application/json")], body)
                }
            }),
        );
    // The service's listener, so both sides hold a burst of connections alike.
    let listener = producer_reliability::server::http::listen(([127, 0, 0, 1], port).into())?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// A ceiling as its own process (this binary with `flag <port> args...`: the bare HTTP server,
/// the bare gateway), so its CPU and memory are its own and it stays up, idle, while the
/// service rows run between its rounds.
pub struct CeilingProcess {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
}

impl CeilingProcess {
    pub fn start(flag: &str, args: &[&str]) -> Res<Self> {
        let port = super::service::free_port()?;
        let child = std::process::Command::new(std::env::current_exe()?)
            .arg(flag)
            .arg(port.to_string())
            .args(args)
            .env("RUST_LOG", "warn")
            .spawn()?;
        let ceiling = CeilingProcess { child, addr: format!("127.0.0.1:{port}").parse()? };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(ceiling.addr).is_err() {
            if Instant::now() > deadline {
                return Err(format!("{flag} did not listen within 10 s").into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(ceiling)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
