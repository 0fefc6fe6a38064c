//! `make bench`: the service next to the two things that bound it, in one run on one machine.
//!
//! - Kafka ceiling ([`ceilings`]): raw rdkafka producing the same records, with the same producer
//!   settings, straight to the same broker (messages/s, and produce-and-await latency one at a time).
//! - HTTP ceiling: a bare axum handler answering 202 with a body of the same size, under the
//!   same load generator ([`load`], oha) and connections.
//! - The service ([`service`], the release binary, talking to that broker) for
//!   plain/idempotent x sync/async at 1, 16, 64 and 256 connections, in rounds interleaved with
//!   the HTTP ceiling's; then where each request's CPU goes ([`cpu`]); then 1,000,000 async
//!   sends and the memory left; then librdkafka settings that change the picture.
//! - The shared status table ([`replicas`]): one replica next to a baseline with statuses in
//!   memory, and three replicas behind HAProxy, with the state view's lag.
//! - Idempotency keys ([`keys`]): sends with and without a fresh `Idempotency-Key`.
//!
//! - The bare gateway ([`gateway`]): HTTP + the same librdkafka producers + the broker, nothing
//!   else, the ceiling the service's rows are measured against; batches ([`batches`]) against raw
//!   rdkafka fire-and-forget.
//!
//! Output ([`report`]): a Markdown table on stdout, saved with a JSON twin and an SVG chart
//! ([`chart`]) under `target/bench/`; each service's log under `target/bench/logs/`.
//!
//! Options: `--quick` (one round of 2 s per row), `--only=rows,replicas` (some parts: raw, rows,
//! replicas, keys, batches; printed, not saved). With `KAFKA_BOOTSTRAP_SERVERS` every row uses
//! that cluster; when that broker runs on this machine, `BENCH_BROKER_PID` counts its CPU in the
//! split and `BENCH_BROKER_NAME` names it in the report.

mod batches;
mod ceilings;
mod chart;
mod cpu;
mod gateway;
mod keys;
mod load;
mod replicas;
mod report;
mod rows;
mod service;

use load::{oha, send_url, Amount};
use producer_reliability::model::{ProducerMode, SendMode};
use producer_reliability::server::config::Config;
use producer_reliability::server::kafka::{EmbeddedBroker, KafkaSettings};
use report::Report;
use service::Service;
use std::error::Error;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const CONNECTIONS: [u32; 4] = [1, 16, 64, 256];
/// Interleaved rounds per row, and each round's length.
const ROUNDS: u32 = 3;
const ROUND_SECONDS: u32 = 4;
const MEMORY_SENDS: u64 = 1_000_000;
const SETTINGS: [&str; 6] =
    ["", "linger.ms=1", "linger.ms=5", "linger.ms=5,compression.type=lz4", "compression.type=gzip", "batch.size=16384"];

// The same allocator as the service, so that the bare gateway and the raw rdkafka ceilings pay
// what the service pays for memory.
producer_reliability::use_jemalloc!();

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--http-ceiling") {
        return ceilings::serve_http_ceiling(args.get(2).ok_or("port")?.parse()?).await;
    }
    if args.get(1).map(String::as_str) == Some("--bare-gateway") {
        return gateway::serve(args.get(2).ok_or("port")?.parse()?, args.get(3).ok_or("bootstrap")?).await;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let raw_seconds = if quick { 2 } else { ROUND_SECONDS };
    let mut report = Report {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        ..Default::default()
    };

    let (broker, bootstrap) = start_broker(&mut report).await?;
    let settings = KafkaSettings::new(&Config::defaults(), bootstrap.clone());
    eprintln!("bench: broker {bootstrap}");

    let parts = Parts::from_args(&args)?;
    if parts.has("raw") {
        measure_raw(&mut report, &settings, raw_seconds).await?;
    }

    if parts.has("rows") {
        rows::measure(&mut report, &bootstrap, broker_pid(broker.as_ref())?, quick).await?;
    }
    let (rounds, seconds) = if quick { (1, 2) } else { (ROUNDS, ROUND_SECONDS) };
    if parts.has("replicas") {
        replicas::measure(&mut report, &bootstrap, rounds, seconds)?;
    }
    if parts.has("keys") {
        keys::measure(&mut report, &bootstrap, rounds, seconds).await?;
    }
    if parts.has("batches") {
        batches::measure(&mut report, &bootstrap, rounds, seconds, quick).await?;
    }
    if parts.0.is_some() {
        report::checks(&mut report);
        println!("{}", report::markdown(&report));
        return Ok(());
    }

    if !quick {
        measure_settings(&mut report, &bootstrap)?;
    }

    let (service, ready) = Service::start(None, &[])?;
    report.startup_to_ready_ms.push(("embedded broker".into(), ready.as_secs_f64() * 1000.0));
    service.stop();

    report.wasm = report::wasm_files(Path::new("target/site/pkg"), "producer-reliability.wasm")?;
    (report.binary_bytes, report.binary_stripped_bytes) = service::binary_bytes()?;
    report::checks(&mut report);
    if let Some(broker) = broker {
        broker.stop().await;
    }
    save(&report)
}

/// The broker every row uses: `KAFKA_BOOTSTRAP_SERVERS`, or an embedded Tansu started here. Names
/// it in the report.
async fn start_broker(report: &mut Report) -> Res<(Option<EmbeddedBroker>, String)> {
    let external = std::env::var("KAFKA_BOOTSTRAP_SERVERS").ok().filter(|s| !s.is_empty());
    let broker = match &external {
        Some(_) => None,
        None => {
            Some(EmbeddedBroker::start(None, None, &producer_reliability::server::shutdown::Shutdown::new()).await?)
        }
    };
    let bootstrap = external.clone().unwrap_or_else(|| broker.as_ref().map(|b| b.bootstrap()).unwrap_or_default());
    report.broker = match (&external, std::env::var("BENCH_BROKER_NAME")) {
        (Some(b), Ok(name)) => format!("{name} at {b}"),
        (Some(b), Err(_)) => format!("external Kafka at {b}"),
        (None, _) => "embedded Tansu 0.6.0, in memory".into(),
    };
    Ok((broker, bootstrap))
}

/// The Kafka ceilings: raw rdkafka fire-and-forget, produce-and-await one at a time, and 64 awaited
/// at once.
async fn measure_raw(report: &mut Report, settings: &KafkaSettings, raw_seconds: u32) -> Res<()> {
    for mode in ProducerMode::ALL {
        let topic = format!("bench-raw-{mode}-{}", std::process::id());
        ceilings::create_topic(settings, &topic).await?;
        let (s, t) = (settings.clone(), topic.clone());
        let rate = tokio::task::spawn_blocking(move || ceilings::kafka_ceiling(&s, mode, &t)).await??;
        report.kafka_ceiling_msgs_per_sec.push((mode.to_string(), rate));
        let p50 = ceilings::produce_await_p50(settings, mode, &topic).await?;
        report.raw_produce_await_p50_ms.push((mode.to_string(), p50));
        let sync64 = ceilings::produce_await_concurrent(settings, mode, &topic, 64, raw_seconds).await?;
        report.raw_produce_await_64_msgs_per_sec.push((mode.to_string(), sync64));
        eprintln!("bench: raw {mode}: {rate:.0} msgs/s, produce-and-await p50 {p50:.2} ms, 64 awaited {sync64:.0}/s");
    }
    Ok(())
}

/// Async idempotent sends at 64 connections under each of [`SETTINGS`], a service each.
fn measure_settings(report: &mut Report, bootstrap: &str) -> Res<()> {
    for props in SETTINGS {
        let env: Vec<(&str, &str)> = if props.is_empty() { vec![] } else { vec![("KAFKA_PROPERTIES", props)] };
        let (service, _) = Service::start(Some(bootstrap), &env)?;
        let topic = format!("bench-settings-{}-{}", props.replace(['.', '=', ','], "-"), std::process::id());
        let url = send_url(service.addr, ProducerMode::Idempotent, SendMode::Async, &topic);
        warm_up(&url)?;
        let result = oha(&url, 64, Amount::Seconds(ROUND_SECONDS))?;
        eprintln!("bench: settings '{props}': {:.0} req/s", result.requests_per_sec);
        report.settings.push((if props.is_empty() { "(defaults)".into() } else { props.into() }, result));
        service.stop();
    }
    Ok(())
}

/// The parts of a run that `--only=rows,replicas` names (raw, rows, replicas, keys, batches),
/// for a quick look at a few of them: printed, not saved, no checklist of missing rows. Without
/// it, every part, saved.
struct Parts(Option<Vec<String>>);

impl Parts {
    const ALL: [&'static str; 5] = ["raw", "rows", "replicas", "keys", "batches"];

    fn from_args(args: &[String]) -> Res<Self> {
        let Some(list) = args.iter().find_map(|a| a.strip_prefix("--only=")) else {
            return Ok(Self(None));
        };
        let parts: Vec<String> = list.split(',').map(str::to_owned).collect();
        match parts.iter().find(|p| !Self::ALL.contains(&p.as_str())) {
            Some(unknown) => Err(format!("--only: no part '{unknown}' (parts: {})", Self::ALL.join(", ")).into()),
            None => Ok(Self(Some(parts))),
        }
    }

    fn has(&self, part: &str) -> bool {
        self.0.as_ref().is_none_or(|parts| parts.iter().any(|p| p == part))
    }
}

/// The broker process whose CPU the split counts: the embedded one, or an external broker running
/// on this machine named by `BENCH_BROKER_PID`.
fn broker_pid(embedded: Option<&EmbeddedBroker>) -> Res<Option<u32>> {
    match (embedded, std::env::var("BENCH_BROKER_PID")) {
        (Some(broker), _) => Ok(Some(broker.pid())),
        (None, Ok(pid)) => Ok(Some(pid.parse().map_err(|_| format!("BENCH_BROKER_PID '{pid}' is not a process id"))?)),
        (None, Err(_)) => Ok(None),
    }
}

/// A few requests first, so the row measures steady state (connections, topic, metadata).
fn warm_up(url: &str) -> Res<()> {
    oha(url, 4, Amount::Requests(500)).map(|_| ())
}

/// Polls `/metrics` until no send is PENDING, so "RSS after" means after every delivery report.
fn wait_until_delivered(addr: SocketAddr) -> Res<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let metrics = service::http_get(addr, "/metrics")?;
        let pending = metrics
            .lines()
            .find(|l| l.starts_with("producer_pending_sends"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok());
        if pending == Some(0.0) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("sends still pending after 120 s: {pending:?}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn save(report: &Report) -> Res<()> {
    let md = report::markdown(report);
    println!("{md}");
    std::fs::create_dir_all("target/bench")?;
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(format!("target/bench/bench-{stamp}.md"), &md)?;
    std::fs::write(format!("target/bench/bench-{stamp}.json"), &json)?;
    std::fs::write("target/bench/latest.json", &json)?;
    std::fs::write("target/bench/latest.md", &md)?;
    chart::draw(report, Path::new(&format!("target/bench/bench-{stamp}.svg")))?;
    std::fs::copy(format!("target/bench/bench-{stamp}.svg"), "target/bench/latest.svg")?;
    eprintln!("bench: saved target/bench/bench-{stamp}.md and .json");
    Ok(())
}
