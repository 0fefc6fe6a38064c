//! One run's figures: the rows and the report (its JSON twin is this struct serialised); the
//! Markdown table for the README (`markdown`) and the issues' targets (`checks`).

mod checks;
mod markdown;

pub use checks::checks;
pub use markdown::markdown;

use super::cpu::CpuSplit;
use super::load::LoadResult;
use super::Res;
use producer_reliability::model::{ProducerMode, SendMode};
use serde::Serialize;
use std::path::Path;
use std::process::Command;

#[derive(Debug, Serialize)]
pub struct Row {
    pub target: String,
    pub mode: Option<String>,
    pub send_mode: Option<String>,
    pub connections: u32,
    /// The median round (by req/s), with the errors of every round and the highest peak RSS.
    pub result: LoadResult,
    /// Every round's req/s, in the order they ran.
    pub rounds_requests_per_sec: Vec<f64>,
    pub ratio_to_ceiling: Option<f64>,
    /// Service rows: req/s over the bare gateway's in the same mode, send mode and connections.
    pub ratio_to_gateway: Option<f64>,
}

impl Row {
    pub fn from_rounds(
        target: &str,
        mode: Option<ProducerMode>,
        send_mode: Option<SendMode>,
        connections: u32,
        rounds: Vec<LoadResult>,
    ) -> Self {
        let rounds_requests_per_sec: Vec<f64> = rounds.iter().map(|r| r.requests_per_sec).collect();
        let errors = rounds.iter().map(|r| r.errors).sum();
        let peak_rss_mb = rounds.iter().map(|r| r.peak_rss_mb).fold(0.0, f64::max);
        let mut sorted = rounds;
        sorted.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
        let mut result = sorted.get(sorted.len() / 2).cloned().unwrap_or_default();
        (result.errors, result.peak_rss_mb) = (errors, peak_rss_mb);
        Row {
            target: target.into(),
            mode: mode.map(|m| m.to_string()),
            send_mode: send_mode.map(|m| m.to_string()),
            connections,
            result,
            rounds_requests_per_sec,
            ratio_to_ceiling: None,
            ratio_to_gateway: None,
        }
    }

    /// The lowest and highest round, as "min-max" req/s.
    pub(super) fn spread(&self) -> String {
        let lo = self.rounds_requests_per_sec.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self.rounds_requests_per_sec.iter().copied().fold(0.0, f64::max);
        format!("{lo:.0}-{hi:.0}")
    }
}

#[derive(Debug, Default, Serialize)]
pub struct WasmFile {
    pub name: String,
    pub bytes: u64,
    pub gzip_bytes: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub date: String,
    pub cores: usize,
    pub broker: String,
    pub rounds: u32,
    pub round_seconds: u32,
    pub kafka_ceiling_msgs_per_sec: Vec<(String, f64)>,
    pub raw_produce_await_p50_ms: Vec<(String, f64)>,
    /// Raw rdkafka with 64 sends awaited at once: the broker's bound on sync sends at 64 connections.
    pub raw_produce_await_64_msgs_per_sec: Vec<(String, f64)>,
    pub http_ceiling: Vec<Row>,
    /// The bare gateway: HTTP + the same librdkafka producers + the broker, nothing else.
    pub bare_gateway: Vec<Row>,
    pub service: Vec<Row>,
    /// At 64 connections, the same service built with its statuses in memory: the service with
    /// its state-topic write per send counted apart.
    pub service_in_memory: Vec<Row>,
    /// Async batches of 500 records at 16 connections against raw rdkafka fire-and-forget.
    pub batches: Vec<super::batches::BatchRow>,
    pub memory_peak_during_million_batched_records_mb: f64,
    pub memory_after_million_batched_records_mb: f64,
    pub million_batched_records_errors: u64,
    /// CPU per request of each party, at 64 connections.
    pub cpu_per_request: Vec<CpuSplit>,
    pub settings: Vec<(String, LoadResult)>,
    /// At 64 connections: the baseline (statuses in memory), the shared table with one replica,
    /// and three replicas behind HAProxy.
    pub status_table: Vec<Row>,
    /// p99 of how long after it was written a state record was applied, over those rows.
    pub view_lag_p99_ms: Option<f64>,
    /// Idempotent sends with and without an `Idempotency-Key`, through one closed-loop generator.
    pub idempotency_keys: Vec<Row>,
    pub memory_after_million_async_sends_mb: f64,
    pub memory_peak_during_million_async_sends_mb: f64,
    pub million_async_sends: LoadResult,
    pub startup_to_ready_ms: Vec<(String, f64)>,
    /// The first file is the bundle every page loads; the others are lazily loaded chunks.
    pub wasm: Vec<WasmFile>,
    pub binary_bytes: u64,
    pub binary_stripped_bytes: u64,
    pub checks: Vec<(String, String, bool)>,
}

/// The site's WASM files, the page's main bundle first.
pub fn wasm_files(dir: &Path, main_name: &str) -> Res<Vec<WasmFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let out = Command::new("sh").arg("-c").arg(format!("gzip -9 -c '{}' | wc -c", path.display())).output()?;
            let gzip_bytes = String::from_utf8_lossy(&out.stdout).trim().parse()?;
            files.push(WasmFile { bytes: std::fs::metadata(&path)?.len(), gzip_bytes, name });
        }
    }
    files.sort_by_key(|f| (f.name != main_name, f.name.clone()));
    Ok(files)
}
