//! `make bench`: the service next to the two things that bound it, in one run on one machine.
//!
//! - Kafka ceiling: raw rdkafka producing the same records, with the same producer settings,
//!   straight to the same broker (messages/s, and produce-and-await latency one at a time).
//! - HTTP ceiling: a bare axum handler answering 202 with a body of the same size, under the
//!   same load generator (oha) and connections.
//! - The service (`target/release/producer-reliability`, talking to that broker) for
//!   plain/idempotent x sync/async at 1, 16, 64 and 256 connections; then 1,000,000 async sends
//!   and the memory left; then librdkafka settings that change the picture.
//!
//! Output: a Markdown table on stdout, saved with a JSON twin under `target/bench/`.

use producer_reliability::model::{ProducerMode, SendMode};
use producer_reliability::server::config::Config;
use producer_reliability::server::kafka::{EmbeddedBroker, KafkaSettings};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, FutureProducer, FutureRecord, Producer, ThreadedProducer};
use serde::Serialize;
use std::error::Error;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const SERVICE_BIN: &str = "target/release/producer-reliability";
const CONNECTIONS: [u32; 4] = [1, 16, 64, 256];
const ROW_SECONDS: u32 = 5;
const RAW_MESSAGES: usize = 100_000;
const AWAIT_SAMPLES: usize = 2_000;
const MEMORY_SENDS: u64 = 1_000_000;

#[derive(Debug, Clone, Default, Serialize)]
struct LoadResult {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    total: u64,
    peak_rss_mb: f64,
}

#[derive(Debug, Serialize)]
struct Row {
    target: String,
    mode: Option<String>,
    send_mode: Option<String>,
    connections: u32,
    result: LoadResult,
    ratio_to_ceiling: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    date: String,
    cores: usize,
    kafka_ceiling_msgs_per_sec: Vec<(String, f64)>,
    raw_produce_await_p50_ms: Vec<(String, f64)>,
    http_ceiling: Vec<Row>,
    service: Vec<Row>,
    settings: Vec<(String, LoadResult)>,
    memory_after_million_async_sends_mb: f64,
    memory_peak_during_million_async_sends_mb: f64,
    million_async_sends: LoadResult,
    startup_to_ready_ms: Vec<(String, f64)>,
    wasm_bytes: u64,
    wasm_gzip_bytes: u64,
    binary_bytes: u64,
    checks: Vec<(String, String, bool)>,
}

fn free_port() -> Res<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The same JSON value the service writes, so both sides send records of one size.
fn record_value(event_id: &str, mode: ProducerMode, send_mode: SendMode) -> String {
    serde_json::json!({"eventId": event_id, "mode": mode.as_str(), "sendMode": send_mode.as_str(), "api": "rust",
        "ts": "2026-11-26T12:00:00.123456789Z"})
    .to_string()
}

async fn create_topic(settings: &KafkaSettings, topic: &str) -> Res<()> {
    let admin: AdminClient<DefaultClientContext> = settings.client_config().create()?;
    let new_topic = NewTopic::new(topic, 3, TopicReplication::Fixed(1));
    admin.create_topics([&new_topic], &AdminOptions::new()).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

/// Raw rdkafka, fire-and-forget then flush: the broker's and librdkafka's ceiling.
fn kafka_ceiling(settings: &KafkaSettings, mode: ProducerMode, topic: &str) -> Res<f64> {
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
async fn produce_await_p50(settings: &KafkaSettings, mode: ProducerMode, topic: &str) -> Res<f64> {
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

/// A bare axum server answering every POST with a 202 and a body as large as the service's.
async fn serve_http_ceiling(port: u16) -> Res<()> {
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
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

fn rss_mb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Resets the kernel's peak-RSS mark, so the next reading is the peak of the next row.
fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn oha(url_regex: &str, connections: u32, amount: Amount) -> Res<LoadResult> {
    let mut cmd = Command::new("oha");
    cmd.args(["--no-tui", "--output-format", "json", "-m", "POST", "-c", &connections.to_string()]);
    match amount {
        Amount::Seconds(s) => cmd.args(["-z", &format!("{s}s")]),
        Amount::Requests(n) => cmd.args(["-n", &n.to_string()]),
    };
    cmd.args(["--rand-regex-url", url_regex]);
    let out = cmd.stderr(Stdio::inherit()).output()?;
    if !out.status.success() {
        return Err(format!("oha failed: {}", String::from_utf8_lossy(&out.stdout)).into());
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let summary = &json["summary"];
    let pct = |p: &str| json["latencyPercentiles"][p].as_f64().unwrap_or(0.0) * 1000.0;
    let codes = json["statusCodeDistribution"].as_object().cloned().unwrap_or_default();
    let ok: u64 = codes.iter().filter(|(c, _)| c.starts_with('2')).map(|(_, n)| n.as_u64().unwrap_or(0)).sum();
    let all: u64 = codes.values().map(|n| n.as_u64().unwrap_or(0)).sum();
    let failed_requests: u64 =
        json["errorDistribution"].as_object().map(|m| m.values().map(|n| n.as_u64().unwrap_or(0)).sum()).unwrap_or(0);
    Ok(LoadResult {
        requests_per_sec: summary["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_ms: pct("p50"),
        p99_ms: pct("p99"),
        max_ms: summary["slowest"].as_f64().unwrap_or(0.0) * 1000.0,
        errors: (all - ok) + failed_requests,
        total: all,
        peak_rss_mb: 0.0,
    })
}

#[derive(Clone, Copy)]
enum Amount {
    Seconds(u32),
    Requests(u64),
}

struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Service {
    fn start(bootstrap: Option<&str>, extra_env: &[(&str, &str)]) -> Res<(Self, Duration)> {
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let mut cmd = Command::new(SERVICE_BIN);
        cmd.env("LEPTOS_SITE_ADDR", addr.to_string())
            .env("LEPTOS_SITE_ROOT", "target/site")
            .env("RUST_LOG", "warn")
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(b) = bootstrap {
            cmd.env("KAFKA_BOOTSTRAP_SERVERS", b);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd.spawn()?;
        let service = Service { child, addr };
        let deadline = started + Duration::from_secs(30);
        loop {
            if let Ok(body) = http_get(addr, "/health/ready") {
                if body.starts_with("HTTP/1.1 200") {
                    return Ok((service, started.elapsed()));
                }
            }
            if Instant::now() > deadline {
                return Err("the service did not get ready within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

fn http_get(addr: SocketAddr, path: &str) -> Res<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

fn send_url(addr: SocketAddr, mode: ProducerMode, send_mode: SendMode, topic: &str) -> String {
    format!("http://{addr}/api/v1/send\\?mode={mode}&sendMode={send_mode}&topic={topic}&eventId=[a-z0-9]{{12}}")
}

fn gzip_size(path: &Path) -> Res<u64> {
    let out = Command::new("sh").arg("-c").arg(format!("gzip -9 -c '{}' | wc -c", path.display())).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

fn markdown(r: &Report) -> String {
    let mut md = String::new();
    let push = |md: &mut String, s: String| {
        md.push_str(&s);
        md.push('\n');
    };
    push(&mut md, format!("`make bench`, {} on {} cores (one broker: embedded Tansu, in memory).\n", r.date, r.cores));
    push(
        &mut md,
        "| target | mode | send | conns | req/s | p50 ms | p99 ms | max ms | errors | peak RSS MB | ratio |".into(),
    );
    push(&mut md, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|".into());
    for row in r.http_ceiling.iter().chain(&r.service) {
        let x = &row.result;
        push(
            &mut md,
            format!(
                "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {:.0} | {} |",
                row.target,
                row.mode.as_deref().unwrap_or("-"),
                row.send_mode.as_deref().unwrap_or("-"),
                row.connections,
                x.requests_per_sec,
                x.p50_ms,
                x.p99_ms,
                x.max_ms,
                x.errors,
                x.peak_rss_mb,
                row.ratio_to_ceiling.map(|v| format!("{v:.2}x")).unwrap_or_else(|| "ceiling".into())
            ),
        );
    }
    push(&mut md, String::new());
    for (mode, v) in &r.kafka_ceiling_msgs_per_sec {
        push(&mut md, format!("- Kafka ceiling, raw rdkafka {mode}: {v:.0} msgs/s"));
    }
    for (mode, v) in &r.raw_produce_await_p50_ms {
        push(&mut md, format!("- Raw rdkafka produce-and-await p50, {mode}: {v:.2} ms"));
    }
    push(
        &mut md,
        format!(
            "- 1,000,000 async sends at 64 connections: {:.0} req/s, {} errors; RSS after {:.1} MB (peak {:.1} MB)",
            r.million_async_sends.requests_per_sec,
            r.million_async_sends.errors,
            r.memory_after_million_async_sends_mb,
            r.memory_peak_during_million_async_sends_mb
        ),
    );
    for (what, ms) in &r.startup_to_ready_ms {
        push(&mut md, format!("- Start-up to ready, {what}: {ms:.0} ms"));
    }
    push(
        &mut md,
        format!(
            "- WASM bundle: {} bytes raw, {} bytes gzipped ({:.0} KB); server binary {:.1} MB",
            r.wasm_bytes,
            r.wasm_gzip_bytes,
            r.wasm_gzip_bytes as f64 / 1024.0,
            r.binary_bytes as f64 / 1_048_576.0
        ),
    );
    if !r.settings.is_empty() {
        push(&mut md, "\nlibrdkafka settings, async idempotent at 64 connections:\n".into());
        push(&mut md, "| KAFKA_PROPERTIES | req/s | p50 ms | p99 ms |".into());
        push(&mut md, "|---|---:|---:|---:|".into());
        for (name, x) in &r.settings {
            push(&mut md, format!("| {name} | {:.0} | {:.2} | {:.2} |", x.requests_per_sec, x.p50_ms, x.p99_ms));
        }
    }
    push(&mut md, "\nTargets:\n".into());
    for (what, value, ok) in &r.checks {
        push(&mut md, format!("- [{}] {what}: {value}", if *ok { "x" } else { " " }));
    }
    md
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--http-ceiling") {
        return serve_http_ceiling(args.get(2).ok_or("port")?.parse()?).await;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let row_seconds = if quick { 2 } else { ROW_SECONDS };
    let mut report = Report {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        ..Default::default()
    };

    // One broker for every row.
    let external = std::env::var("KAFKA_BOOTSTRAP_SERVERS").ok().filter(|s| !s.is_empty());
    let broker = match &external {
        Some(_) => None,
        None => Some(EmbeddedBroker::start(None, None).await?),
    };
    let bootstrap = external.clone().unwrap_or_else(|| broker.as_ref().map(|b| b.bootstrap()).unwrap_or_default());
    let settings = KafkaSettings::new(&Config::defaults(), bootstrap.clone());
    eprintln!("bench: broker {bootstrap}");

    for mode in ProducerMode::ALL {
        let topic = format!("bench-raw-{mode}-{}", std::process::id());
        create_topic(&settings, &topic).await?;
        let (s, t) = (settings.clone(), topic.clone());
        let rate = tokio::task::spawn_blocking(move || kafka_ceiling(&s, mode, &t)).await??;
        report.kafka_ceiling_msgs_per_sec.push((mode.to_string(), rate));
        let p50 = produce_await_p50(&settings, mode, &topic).await?;
        report.raw_produce_await_p50_ms.push((mode.to_string(), p50));
        eprintln!("bench: raw {mode}: {rate:.0} msgs/s, produce-and-await p50 {p50:.2} ms");
    }

    // HTTP ceiling.
    let port = free_port()?;
    let mut ceiling = Command::new(std::env::current_exe()?).args(["--http-ceiling", &port.to_string()]).spawn()?;
    let ceiling_addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    while std::net::TcpStream::connect(ceiling_addr).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    for c in CONNECTIONS {
        reset_peak(ceiling.id());
        let mut result =
            oha(&send_url(ceiling_addr, ProducerMode::Plain, SendMode::Async, "x"), c, Amount::Seconds(row_seconds))?;
        result.peak_rss_mb = rss_mb(ceiling.id(), "VmHWM");
        eprintln!("bench: http ceiling c={c}: {:.0} req/s", result.requests_per_sec);
        report.http_ceiling.push(Row {
            target: "http ceiling".into(),
            mode: None,
            send_mode: None,
            connections: c,
            result,
            ratio_to_ceiling: None,
        });
    }
    let _ = ceiling.kill();
    let _ = ceiling.wait();

    // The service, against the same broker.
    let (service, ready) = Service::start(Some(&bootstrap), &[])?;
    report.startup_to_ready_ms.push(("external broker".into(), ready.as_secs_f64() * 1000.0));
    for mode in ProducerMode::ALL {
        for send_mode in SendMode::ALL {
            let topic = format!("bench-{mode}-{send_mode}-{}", std::process::id());
            for c in CONNECTIONS {
                reset_peak(service.pid());
                let mut result =
                    oha(&send_url(service.addr, mode, send_mode, &topic), c, Amount::Seconds(row_seconds))?;
                result.peak_rss_mb = rss_mb(service.pid(), "VmHWM");
                let ceiling =
                    report.http_ceiling.iter().find(|r| r.connections == c).map(|r| r.result.requests_per_sec);
                eprintln!("bench: service {mode} {send_mode} c={c}: {:.0} req/s", result.requests_per_sec);
                report.service.push(Row {
                    target: "service".into(),
                    mode: Some(mode.to_string()),
                    send_mode: Some(send_mode.to_string()),
                    connections: c,
                    ratio_to_ceiling: ceiling.map(|h| result.requests_per_sec / h),
                    result,
                });
            }
        }
    }

    // Memory: a million async sends, then what stays resident.
    reset_peak(service.pid());
    let topic = format!("bench-memory-{}", std::process::id());
    let amount = if quick { Amount::Requests(100_000) } else { Amount::Requests(MEMORY_SENDS) };
    report.million_async_sends =
        oha(&send_url(service.addr, ProducerMode::Plain, SendMode::Async, &topic), 64, amount)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    report.memory_peak_during_million_async_sends_mb = rss_mb(service.pid(), "VmHWM");
    report.memory_after_million_async_sends_mb = rss_mb(service.pid(), "VmRSS");
    service.stop();

    // librdkafka settings that change the picture.
    if !quick {
        for props in
            ["", "linger.ms=5", "linger.ms=20", "compression.type=lz4", "compression.type=gzip", "batch.size=16384"]
        {
            let env: Vec<(&str, &str)> = if props.is_empty() { vec![] } else { vec![("KAFKA_PROPERTIES", props)] };
            let (service, _) = Service::start(Some(&bootstrap), &env)?;
            let topic = format!("bench-settings-{}-{}", props.replace(['.', '='], "-"), std::process::id());
            let result = oha(
                &send_url(service.addr, ProducerMode::Idempotent, SendMode::Async, &topic),
                64,
                Amount::Seconds(row_seconds),
            )?;
            eprintln!("bench: settings '{props}': {:.0} req/s", result.requests_per_sec);
            report.settings.push((if props.is_empty() { "(defaults)".into() } else { props.into() }, result));
            service.stop();
        }
    }

    // Start-up on the embedded broker.
    let (service, ready) = Service::start(None, &[])?;
    report.startup_to_ready_ms.push(("embedded broker".into(), ready.as_secs_f64() * 1000.0));
    service.stop();

    // Sizes.
    if let Some(wasm) = std::fs::read_dir("target/site/pkg")?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"))
    {
        report.wasm_bytes = std::fs::metadata(&wasm)?.len();
        report.wasm_gzip_bytes = gzip_size(&wasm)?;
    }
    report.binary_bytes = std::fs::metadata(SERVICE_BIN)?.len();

    checks(&mut report);
    if let Some(broker) = broker {
        broker.stop().await;
    }
    let md = markdown(&report);
    println!("{md}");
    std::fs::create_dir_all("target/bench")?;
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    std::fs::write(format!("target/bench/bench-{stamp}.md"), &md)?;
    std::fs::write(format!("target/bench/bench-{stamp}.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write("target/bench/latest.json", serde_json::to_string_pretty(&report)?)?;
    eprintln!("bench: saved target/bench/bench-{stamp}.md and .json");
    Ok(())
}

/// The targets, as ratios measured in this run.
fn checks(r: &mut Report) {
    let row = |mode: ProducerMode, send_mode: SendMode, c: u32| {
        r.service.iter().find(|x| {
            x.mode.as_deref() == Some(mode.as_str())
                && x.send_mode.as_deref() == Some(send_mode.as_str())
                && x.connections == c
        })
    };
    let mut checks = Vec::new();
    for mode in ProducerMode::ALL {
        if let Some(x) = row(mode, SendMode::Async, 64) {
            let v = x.ratio_to_ceiling.unwrap_or(0.0);
            checks.push((format!("async {mode} at 64 conns >= 0.6x HTTP ceiling"), format!("{v:.2}x"), v >= 0.6));
        }
        if let Some(x) = row(mode, SendMode::Sync, 64) {
            let v = x.ratio_to_ceiling.unwrap_or(0.0);
            checks.push((format!("sync {mode} at 64 conns >= 0.3x HTTP ceiling"), format!("{v:.2}x"), v >= 0.3));
        }
        let raw = r.raw_produce_await_p50_ms.iter().find(|(m, _)| m == mode.as_str()).map(|x| x.1).unwrap_or(0.0);
        if let Some(x) = row(mode, SendMode::Sync, 1) {
            let d = x.result.p50_ms - raw;
            checks.push((
                format!("sync {mode} at 1 conn: p50 at most 0.5 ms above raw rdkafka's"),
                format!("+{d:.2} ms"),
                d <= 0.5,
            ));
        }
    }
    for send_mode in SendMode::ALL {
        for c in CONNECTIONS {
            if let (Some(i), Some(p)) =
                (row(ProducerMode::Idempotent, send_mode, c), row(ProducerMode::Plain, send_mode, c))
            {
                let v = i.result.requests_per_sec / p.result.requests_per_sec.max(1.0);
                checks.push((format!("idempotent/plain {send_mode} at {c} conns >= 0.9"), format!("{v:.2}"), v >= 0.9));
            }
        }
    }
    let rss = r.memory_after_million_async_sends_mb;
    checks.push(("RSS after 1,000,000 async sends <= 100 MB".into(), format!("{rss:.1} MB"), rss <= 100.0));
    let errors: u64 = r.service.iter().map(|x| x.result.errors).sum::<u64>() + r.million_async_sends.errors;
    checks.push(("zero errors in every row".into(), errors.to_string(), errors == 0));
    let gz = r.wasm_gzip_bytes;
    checks.push(("gzipped WASM at most 250 KB".into(), format!("{:.0} KB", gz as f64 / 1024.0), gz <= 250 * 1024));
    r.checks = checks;
}
