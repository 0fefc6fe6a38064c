//! What the shared status table costs. At 64 connections, in interleaved rounds, on the one
//! broker: the service as built (statuses in the state topic) next to the baseline binary
//! built with `bench-local-table` (the same code with statuses in process memory, as before they
//! were kept in Kafka), one replica each; then three replicas of the service behind HAProxy
//! (`scripts/cluster.sh`). Then the view lag p99 the single replica's `state_view_lag_seconds`
//! saw over its rows.

use super::load::{oha, send_url, Amount};
use super::report::{Report, Row};
use super::service::{free_port, http_get, reset_peak, rss_mb, Service};
use super::{wait_until_delivered, warm_up, Res};
use producer_reliability::model::{ProducerMode, SendMode};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `make bench` puts the baseline binary.
pub const BASELINE_BIN: &str = "target/bench/producer-reliability-local-table";
const CONNECTIONS: u32 = 64;
const REPLICAS: usize = 3;

/// Three replicas and HAProxy in front of them, as `make cluster` runs them.
struct Cluster {
    script: Child,
    addr: SocketAddr,
    replicas: Vec<SocketAddr>,
}

impl Cluster {
    fn start(bootstrap: &str, state_topic: &str) -> Res<Self> {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let replicas: Vec<SocketAddr> = (0..REPLICAS)
            .map(|_| Ok::<_, Box<dyn std::error::Error + Send + Sync>>(format!("127.0.0.1:{}", free_port()?).parse()?))
            .collect::<Result<_, _>>()?;
        let ports: Vec<String> = replicas.iter().map(|a| a.port().to_string()).collect();
        let script = Command::new("scripts/cluster.sh")
            .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
            .env("STATE_TOPIC", state_topic)
            .env("PORT", addr.port().to_string())
            .env("REPLICA_PORTS", ports.join(" "))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let cluster = Cluster { script, addr, replicas };
        let deadline = Instant::now() + Duration::from_secs(90);
        while !http_get(addr, "/health/ready").is_ok_and(|a| a.starts_with("HTTP/1.1 200")) {
            if Instant::now() > deadline {
                return Err("the cluster did not get ready within 90 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(cluster)
    }

    fn wait_until_delivered(&self) -> Res<()> {
        self.replicas.iter().try_for_each(|r| wait_until_delivered(*r))
    }

    /// SIGTERM to the script, whose trap stops HAProxy and the replicas.
    fn stop(mut self) {
        // SAFETY: kill(2) on our own child process.
        unsafe {
            libc::kill(self.script.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.script.wait();
    }
}

struct Target {
    label: &'static str,
    send_mode: SendMode,
    url: String,
    addr: SocketAddr,
    /// Its process, for the peak RSS (none for the cluster).
    pid: Option<u32>,
    cluster: bool,
}

/// The rows, the baseline ratio and the view lag, into `report`.
pub fn measure(report: &mut Report, bootstrap: &str, rounds: u32, seconds: u32) -> Res<()> {
    if !std::path::Path::new(BASELINE_BIN).exists() {
        return Err(format!("no baseline binary at {BASELINE_BIN} (make bench builds it)").into());
    }
    // Fresh state topics: the steady state of a new deployment (`Service::start` gives each
    // service one; the three replicas share theirs). On Tansu's in-memory engine a state topic
    // costs more as it grows.
    let (shared, _) = Service::start(Some(bootstrap), &[])?;
    let (baseline, _) = Service::start_bin(BASELINE_BIN, Some(bootstrap), &[])?;
    let cluster = Cluster::start(bootstrap, &format!("bench-state-three-{}", std::process::id()))?;
    let mode = ProducerMode::Idempotent;
    let mut targets = Vec::new();
    for send_mode in SendMode::ALL {
        let topic = |who: &str| format!("bench-table-{who}-{send_mode}-{}", std::process::id());
        targets.push(Target {
            label: "local table (baseline)",
            send_mode,
            url: send_url(baseline.addr, mode, send_mode, &topic("local")),
            addr: baseline.addr,
            pid: Some(baseline.pid()),
            cluster: false,
        });
        targets.push(Target {
            label: "shared table, 1 replica",
            send_mode,
            url: send_url(shared.addr, mode, send_mode, &topic("shared")),
            addr: shared.addr,
            pid: Some(shared.pid()),
            cluster: false,
        });
        targets.push(Target {
            label: "shared table, 3 replicas + HAProxy",
            send_mode,
            url: send_url(cluster.addr, mode, send_mode, &topic("cluster")),
            addr: cluster.addr,
            pid: None,
            cluster: true,
        });
    }
    for t in &targets {
        warm_up(&t.url)?;
    }
    let settle = |t: &Target| -> Res<()> {
        match (t.send_mode, t.cluster) {
            (SendMode::Sync, _) => Ok(()),
            (SendMode::Async, true) => cluster.wait_until_delivered(),
            (SendMode::Async, false) => wait_until_delivered(t.addr),
        }
    };
    let mut results: Vec<Vec<_>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds as usize {
        for k in 0..targets.len() {
            let i = (k + round) % targets.len();
            let t = &targets[i];
            if let Some(pid) = t.pid {
                reset_peak(pid);
            }
            let mut result = oha(&t.url, CONNECTIONS, Amount::Seconds(seconds))?;
            result.peak_rss_mb = t.pid.map(|pid| rss_mb(pid, "VmHWM")).unwrap_or(0.0);
            settle(t)?;
            eprintln!("bench: round {} {} {}: {:.0} req/s", round + 1, t.label, t.send_mode, result.requests_per_sec);
            results[i].push(result);
        }
    }
    for (t, rounds) in targets.iter().zip(results) {
        report.status_table.push(Row::from_rounds(t.label, Some(mode), Some(t.send_mode), CONNECTIONS, rounds));
    }
    report.view_lag_p99_ms = view_lag_p99_ms(&http_get(shared.addr, "/metrics")?);
    cluster.stop();
    baseline.stop();
    shared.stop();
    Ok(())
}

/// The p99 of `state_view_lag_seconds`, in ms, as the upper bound of the bucket it falls in.
pub fn view_lag_p99_ms(metrics: &str) -> Option<f64> {
    let value = |line: &str| line.split_whitespace().last().and_then(|v| v.parse::<f64>().ok());
    let count = metrics.lines().find(|l| l.starts_with("state_view_lag_seconds_count")).and_then(value)?;
    if count == 0.0 {
        return None;
    }
    metrics
        .lines()
        .filter(|l| l.starts_with("state_view_lag_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            Some((le.parse::<f64>().unwrap_or(f64::INFINITY), value(l)?))
        })
        .find(|(_, cumulative)| *cumulative >= 0.99 * count)
        .map(|(le, _)| le * 1000.0)
}
