//! Where the CPU of one request goes: each party's CPU time over one row of load, per request.
//! On a machine where every party shares the same cores, req/s ≈ cores / (CPU per request), so
//! this split says which party bounds a row and what a faster service could still gain.

use super::load::{oha, Amount, LoadResult};
use super::Res;
use serde::Serialize;
use std::collections::BTreeMap;

/// One row of load and the CPU microseconds each party spent per request in it.
#[derive(Debug, Serialize)]
pub struct CpuSplit {
    pub label: String,
    pub requests_per_sec: f64,
    /// (party, µs per request), largest first.
    pub parts: Vec<(String, f64)>,
}

impl CpuSplit {
    pub fn total(&self) -> f64 {
        self.parts.iter().map(|(_, us)| us).sum()
    }
}

/// A process whose CPU is counted, by thread name when `by_thread` (the service: its tokio
/// workers, librdkafka's threads), else as one party (the broker, the HTTP ceiling).
pub struct Party<'a> {
    pub name: &'a str,
    pub pid: u32,
    pub by_thread: bool,
}

/// Runs oha against `url` for `seconds` and splits the CPU it cost among `parties` and oha.
pub fn measure(label: &str, url: &str, connections: u32, seconds: u32, parties: &[Party]) -> Res<CpuSplit> {
    let before: Vec<_> = parties.iter().map(cpu_seconds).collect();
    let oha_before = children_cpu_seconds();
    let result: LoadResult = oha(url, connections, Amount::Seconds(seconds))?;
    let oha_cpu = children_cpu_seconds() - oha_before;
    let after: Vec<_> = parties.iter().map(cpu_seconds).collect();
    let requests = result.total.max(1) as f64;
    let mut used: BTreeMap<String, f64> = BTreeMap::new();
    for (b, a) in before.iter().zip(&after) {
        for (name, seconds) in a {
            *used.entry(name.clone()).or_default() += seconds - b.get(name).copied().unwrap_or(0.0);
        }
    }
    used.insert("load generator (oha)".into(), oha_cpu);
    let mut parts: Vec<(String, f64)> = used
        .into_iter()
        .map(|(name, seconds)| (name, seconds * 1e6 / requests))
        .filter(|(_, us)| *us >= 0.05)
        .collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(CpuSplit { label: label.into(), requests_per_sec: result.requests_per_sec, parts })
}

/// CPU seconds (user + system) of a party, per thread name or as a whole.
fn cpu_seconds(party: &Party) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if !party.by_thread {
        out.insert(party.name.to_owned(), stat_seconds(&format!("/proc/{}/stat", party.pid)));
        return out;
    }
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", party.pid)) else { return out };
    for task in tasks.flatten() {
        let dir = task.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        // librdkafka names broker threads after the broker (`rdk:broker1001`): one party.
        let thread = comm.trim().trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        *out.entry(format!("{}: {thread}", party.name)).or_default() +=
            stat_seconds(&dir.join("stat").to_string_lossy());
    }
    out
}

/// utime + stime of a `/proc/.../stat` file, in seconds.
fn stat_seconds(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else { return 0.0 };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks / hz
}

/// CPU seconds of every child process this bench has waited for: oha's, once it returned.
fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we hand it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
