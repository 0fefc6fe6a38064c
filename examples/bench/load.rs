//! The load generator (oha, from crates.io) and what one row of load measured.

use super::Res;
use producer_reliability::model::{ProducerMode, SendMode};
use serde::Serialize;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

/// What oha reports when `-z` ends with requests still in flight: not an error of the target.
const DEADLINE_ABORT: &str = "aborted due to deadline";

#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadResult {
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub total: u64,
    pub peak_rss_mb: f64,
}

#[derive(Clone, Copy)]
pub enum Amount {
    Seconds(u32),
    Requests(u64),
}

/// The send URL as an oha `--rand-regex-url`: every request carries a fresh 12-character eventId.
pub fn send_url(addr: SocketAddr, mode: ProducerMode, send_mode: SendMode, topic: &str) -> String {
    format!("http://{addr}/api/v1/send\\?mode={mode}&sendMode={send_mode}&topic={topic}&eventId=[a-z0-9]{{12}}")
}

pub fn oha(url_regex: &str, connections: u32, amount: Amount) -> Res<LoadResult> {
    run(&["--rand-regex-url", url_regex], connections, amount)
}

/// POSTs the same JSON body (a file) to `url` (the batch rows).
pub fn oha_post(url: &str, body: &std::path::Path, connections: u32, amount: Amount) -> Res<LoadResult> {
    let body = body.to_str().ok_or("body path is not UTF-8")?;
    run(&["-D", body, "-T", "application/json", url], connections, amount)
}

fn run(target: &[&str], connections: u32, amount: Amount) -> Res<LoadResult> {
    let mut cmd = Command::new("oha");
    cmd.args(["--no-tui", "--output-format", "json", "-m", "POST", "-c", &connections.to_string()]);
    match amount {
        Amount::Seconds(s) => cmd.args(["-z", &format!("{s}s")]),
        Amount::Requests(n) => cmd.args(["-n", &n.to_string()]),
    };
    cmd.args(target);
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
    let failed_requests: u64 = json["errorDistribution"]
        .as_object()
        .map(|m| m.iter().filter(|(e, _)| e.as_str() != DEADLINE_ABORT).map(|(_, n)| n.as_u64().unwrap_or(0)).sum())
        .unwrap_or(0);
    if all > ok || failed_requests > 0 {
        // A row with errors says which, so that a wrong figure is not taken for a fast one.
        eprintln!("bench: answers {codes:?}, failures {}", json["errorDistribution"]);
    }
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
