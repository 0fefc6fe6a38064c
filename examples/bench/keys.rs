//! What an `Idempotency-Key` costs: the same service, the same closed-loop load generator, with
//! and without a fresh key on every send, in interleaved rounds. oha cannot put a fresh value in
//! a header, so both sides of each ratio use this generator (reqwest, one task per connection):
//! its cost is the same on both sides.

use super::load::LoadResult;
use super::report::{Report, Row};
use super::service::Service;
use super::{wait_until_delivered, Res};
use producer_reliability::model::{ProducerMode, SendMode};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The two rows the issue sets a goal for: sync at 1 connection (p50), async at 64 (req/s).
const CASES: [(SendMode, u32); 2] = [(SendMode::Sync, 1), (SendMode::Async, 64)];

/// `STATE_FETCH_WAIT_MS` values measured: the default, and a short one. Tansu holds every fetch
/// this long, so a claim's read-back waits for it there (Kafka answers as soon as it has data).
const FETCH_WAITS: [&str; 2] = ["50", "5"];

/// Rows `with key` and `without key` for each case and fetch wait, into `report.idempotency_keys`.
pub async fn measure(report: &mut Report, bootstrap: &str, rounds: u32, seconds: u32) -> Res<()> {
    for wait in FETCH_WAITS {
        measure_with(report, bootstrap, rounds, seconds, wait).await?;
    }
    Ok(())
}

async fn measure_with(report: &mut Report, bootstrap: &str, rounds: u32, seconds: u32, wait: &str) -> Res<()> {
    // A state topic of its own comes with `Service::start`.
    let env = [("STATE_FETCH_WAIT_MS", wait)];
    let (service, _) = Service::start(Some(bootstrap), &env)?;
    let mode = ProducerMode::Idempotent;
    let (with_label, without_label) =
        (format!("with key (fetch wait {wait} ms)"), format!("without key (fetch wait {wait} ms)"));
    for (send_mode, connections) in CASES {
        let topic = format!("bench-keys-{send_mode}-{wait}-{}", std::process::id());
        let load = KeyedLoad { addr: service.addr, mode, send_mode, topic, connections };
        load.run(false, Duration::from_secs(1)).await?;
        let mut with = Vec::new();
        let mut without = Vec::new();
        for round in 0..rounds {
            // Alternate which side runs first, so neither always meets a warmer state topic.
            for keyed in [round % 2 == 0, round % 2 != 0] {
                let result = load.run(keyed, Duration::from_secs(seconds.into())).await?;
                if send_mode == SendMode::Async {
                    wait_until_delivered(service.addr)?;
                }
                eprintln!(
                    "bench: keys round {} {send_mode} {connections} conns {}: {:.0} req/s, p50 {:.2} ms",
                    round + 1,
                    if keyed { &with_label } else { &without_label },
                    result.requests_per_sec,
                    result.p50_ms
                );
                if keyed { &mut with } else { &mut without }.push(result);
            }
        }
        let row = |label: &str, rounds| Row::from_rounds(label, Some(mode), Some(send_mode), connections, rounds);
        report.idempotency_keys.push(row(&without_label, without));
        report.idempotency_keys.push(row(&with_label, with));
    }
    service.stop();
    Ok(())
}

struct KeyedLoad {
    addr: SocketAddr,
    mode: ProducerMode,
    send_mode: SendMode,
    topic: String,
    connections: u32,
}

impl KeyedLoad {
    /// `connections` callers, each sending one request after the other for `length`.
    async fn run(&self, keyed: bool, length: Duration) -> Res<LoadResult> {
        let client = reqwest::Client::builder().pool_max_idle_per_host(self.connections as usize).build()?;
        let started = Instant::now();
        let deadline = started + length;
        let run = uuid::Uuid::new_v4().simple().to_string();
        let mut callers = tokio::task::JoinSet::new();
        for caller in 0..self.connections {
            let base = format!(
                "http://{}/api/v1/send?mode={}&sendMode={}&topic={}",
                self.addr, self.mode, self.send_mode, self.topic
            );
            let (client, run) = (client.clone(), run.clone());
            callers.spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let id = format!("{run}-{caller}-{i}");
                    i += 1;
                    let mut request = client.post(format!("{base}&eventId={id}"));
                    if keyed {
                        request = request.header("Idempotency-Key", format!("\"{id}\""));
                    }
                    let sent = Instant::now();
                    match request.send().await {
                        Ok(res) if res.status().is_success() => {
                            let _ = res.bytes().await;
                            latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            });
        }
        let mut latencies = Vec::new();
        let mut errors = 0;
        while let Some(done) = callers.join_next().await {
            let (l, e) = done?;
            latencies.extend(l);
            errors += e;
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let pct =
            |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)));
        Ok(LoadResult {
            requests_per_sec: latencies.len() as f64 / elapsed,
            p50_ms: pct(0.5).copied().unwrap_or(0.0),
            p99_ms: pct(0.99).copied().unwrap_or(0.0),
            max_ms: latencies.last().copied().unwrap_or(0.0),
            errors,
            total: latencies.len() as u64 + errors,
            peak_rss_mb: 0.0,
        })
    }
}
