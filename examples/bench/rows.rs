//! The rows: the HTTP ceiling, the bare gateway and the service's four kinds of send, at each
//! number of connections, in interleaved rounds; at 64 connections also the same service built
//! with its statuses in memory (`bench-local-table`): the service with its state-topic write per
//! send counted apart, as the batches issue sets its target. Then where each request's CPU goes,
//! then a million async sends and the memory left.

use super::ceilings::{self, CeilingProcess};
use super::load::{oha, send_url, Amount, LoadResult};
use super::replicas::BASELINE_BIN;
use super::report::{Report, Row};
use super::service::{self, reset_peak, rss_mb, Service};
use super::{cpu, wait_until_delivered, warm_up, Res, CONNECTIONS, MEMORY_SENDS, ROUNDS, ROUND_SECONDS};
use producer_reliability::model::{ProducerMode, SendMode};
use producer_reliability::server::config::Config;
use producer_reliability::server::kafka::KafkaSettings;
use std::net::SocketAddr;

/// The service built with its statuses in memory: no state-topic write per send.
const IN_MEMORY: &str = "service, statuses in memory";

/// One thing under load in the rows: the HTTP ceiling, or the service in one mode.
struct Target {
    target: &'static str,
    mode: Option<ProducerMode>,
    send_mode: Option<SendMode>,
    url: String,
    pid: u32,
    /// The service whose async backlog is delivered before the next row.
    service: Option<SocketAddr>,
    /// Measured at this number of connections only (`None`: at each).
    only_at: Option<u32>,
}

/// The HTTP ceiling and the service's four rows, at each number of connections, in `rounds`
/// interleaved rounds (the order turning each round, async backlogs drained before the next
/// row): each row is its median round, so a noisy moment of a shared machine moves one round of
/// every target rather than one target's only figure. Then the CPU split, then a million
/// async sends and the memory left.
pub async fn measure(report: &mut Report, bootstrap: &str, broker_pid: Option<u32>, quick: bool) -> Res<()> {
    let (rounds, seconds) = if quick { (1, 2) } else { (ROUNDS, ROUND_SECONDS) };
    (report.rounds, report.round_seconds) = (rounds, seconds);
    let ceiling = CeilingProcess::start("--http-ceiling", &[])?;
    let gateway = CeilingProcess::start("--bare-gateway", &[bootstrap])?;
    let settings = KafkaSettings::new(&Config::defaults(), bootstrap.to_owned());
    let (service, ready) = Service::start(Some(bootstrap), &[])?;
    report.startup_to_ready_ms.push(("external broker".into(), ready.as_secs_f64() * 1000.0));
    let in_memory = if std::path::Path::new(BASELINE_BIN).exists() {
        Some(Service::start_bin(BASELINE_BIN, Some(bootstrap), &[])?.0)
    } else {
        eprintln!("bench: no {BASELINE_BIN} (make bench builds it): no rows with statuses in memory");
        None
    };
    let mut targets = targets(&ceiling, &gateway, &service, &settings).await?;
    targets.extend(in_memory.iter().flat_map(in_memory_targets));
    for t in &targets {
        warm_up(&t.url)?;
    }
    wait_until_delivered(service.addr)?;
    for c in CONNECTIONS {
        run_rounds(report, &targets, c, rounds, seconds)?;
    }
    set_ratios(report);
    measure_cpu_split(report, &targets, broker_pid, seconds * 2)?;
    ceiling.stop();
    gateway.stop();
    if let Some(in_memory) = in_memory {
        in_memory.stop();
    }
    measure_memory(report, &service, quick)?;
    service.stop();
    Ok(())
}

/// The HTTP ceiling, then the service and the bare gateway in each mode and send mode.
async fn targets(
    ceiling: &CeilingProcess,
    gateway: &CeilingProcess,
    service: &Service,
    settings: &KafkaSettings,
) -> Res<Vec<Target>> {
    let mut targets = vec![Target {
        target: "http ceiling",
        mode: None,
        send_mode: None,
        url: send_url(ceiling.addr, ProducerMode::Plain, SendMode::Async, "x"),
        pid: ceiling.pid(),
        service: None,
        only_at: None,
    }];
    for mode in ProducerMode::ALL {
        for send_mode in SendMode::ALL {
            let topic = format!("bench-{mode}-{send_mode}-{}", std::process::id());
            let url = send_url(service.addr, mode, send_mode, &topic);
            targets.push(Target {
                target: "service",
                mode: Some(mode),
                send_mode: Some(send_mode),
                url,
                pid: service.pid(),
                service: Some(service.addr),
                only_at: None,
            });
            // The bare gateway creates no topic: made here.
            let topic = format!("bench-bare-{mode}-{send_mode}-{}", std::process::id());
            ceilings::create_topic(settings, &topic).await?;
            targets.push(Target {
                target: "bare gateway",
                mode: Some(mode),
                send_mode: Some(send_mode),
                url: send_url(gateway.addr, mode, send_mode, &topic),
                pid: gateway.pid(),
                service: None,
                only_at: None,
            });
        }
    }
    Ok(targets)
}

/// The service with its statuses in memory, in each mode and send mode, at 64 connections.
fn in_memory_targets(service: &Service) -> Vec<Target> {
    let mut targets = Vec::new();
    for mode in ProducerMode::ALL {
        for send_mode in SendMode::ALL {
            let topic = format!("bench-in-memory-{mode}-{send_mode}-{}", std::process::id());
            targets.push(Target {
                target: IN_MEMORY,
                mode: Some(mode),
                send_mode: Some(send_mode),
                url: send_url(service.addr, mode, send_mode, &topic),
                pid: service.pid(),
                service: Some(service.addr),
                only_at: Some(64),
            });
        }
    }
    targets
}

/// Every target's rounds at `c` connections, the order turning each round.
fn run_rounds(report: &mut Report, targets: &[Target], c: u32, rounds: u32, seconds: u32) -> Res<()> {
    let targets: Vec<&Target> = targets.iter().filter(|t| t.only_at.is_none_or(|at| at == c)).collect();
    let mut results: Vec<Vec<LoadResult>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds as usize {
        for k in 0..targets.len() {
            let i = (k + round) % targets.len();
            let t = targets[i];
            reset_peak(t.pid);
            let mut result = oha(&t.url, c, Amount::Seconds(seconds))?;
            result.peak_rss_mb = rss_mb(t.pid, "VmHWM");
            settle(t)?;
            eprintln!(
                "bench: round {} {} {} {} c={c}: {:.0} req/s",
                round + 1,
                t.target,
                t.mode.map(|m| m.as_str()).unwrap_or("-"),
                t.send_mode.map(|m| m.as_str()).unwrap_or("-"),
                result.requests_per_sec
            );
            results[i].push(result);
        }
    }
    for (t, rounds) in targets.iter().zip(results) {
        let row = Row::from_rounds(t.target, t.mode, t.send_mode, c, rounds);
        match t.target {
            "http ceiling" => report.http_ceiling.push(row),
            "bare gateway" => report.bare_gateway.push(row),
            IN_MEMORY => report.service_in_memory.push(row),
            _ => report.service.push(row),
        }
    }
    Ok(())
}

/// Each service row against the HTTP ceiling and the bare gateway at the same connections.
fn set_ratios(report: &mut Report) {
    for row in report.service.iter_mut().chain(&mut report.service_in_memory) {
        let ceiling = report.http_ceiling.iter().find(|r| r.connections == row.connections);
        row.ratio_to_ceiling = ceiling.map(|h| row.result.requests_per_sec / h.result.requests_per_sec.max(1.0));
        let bare = report
            .bare_gateway
            .iter()
            .find(|g| g.connections == row.connections && g.mode == row.mode && g.send_mode == row.send_mode);
        row.ratio_to_gateway = bare.map(|g| row.result.requests_per_sec / g.result.requests_per_sec.max(1.0));
    }
}

/// A million async sends at 64 connections: the peak RSS, and what is left once delivered.
fn measure_memory(report: &mut Report, service: &Service, quick: bool) -> Res<()> {
    reset_peak(service.pid());
    let topic = format!("bench-memory-{}", std::process::id());
    let amount = Amount::Requests(if quick { 100_000 } else { MEMORY_SENDS });
    report.million_async_sends =
        oha(&send_url(service.addr, ProducerMode::Plain, SendMode::Async, &topic), 64, amount)?;
    report.memory_peak_during_million_async_sends_mb = rss_mb(service.pid(), "VmHWM");
    wait_until_delivered(service.addr)?;
    report.memory_after_million_async_sends_mb = service::settled_rss_mb(service.pid());
    Ok(())
}

/// The CPU each party spends per request at 64 connections: the service's async and sync
/// idempotent sends (by thread, with the broker when it is the embedded one) and the ceiling.
fn measure_cpu_split(report: &mut Report, targets: &[Target], broker_pid: Option<u32>, seconds: u32) -> Res<()> {
    for t in targets {
        let label = match (t.mode, t.send_mode) {
            (None, _) => "HTTP ceiling".to_owned(),
            (Some(ProducerMode::Idempotent), Some(send_mode)) => format!("{}, idempotent {send_mode}", t.target),
            _ => continue,
        };
        let name = match t.target {
            "bare gateway" => "gateway",
            "http ceiling" => "handler",
            _ => "service",
        };
        let mut parties = vec![cpu::Party { name, pid: t.pid, by_thread: t.mode.is_some() }];
        if let (Some(pid), Some(_)) = (broker_pid, t.mode) {
            parties.push(cpu::Party { name: "broker", pid, by_thread: false });
        }
        let split = cpu::measure(&label, &t.url, 64, seconds, &parties)?;
        settle(t)?;
        eprintln!("bench: CPU per request, {label}: {:.1} µs", split.total());
        report.cpu_per_request.push(split);
    }
    Ok(())
}

/// After an async row of a service, until its backlog is delivered.
fn settle(t: &Target) -> Res<()> {
    match (t.send_mode, t.service) {
        (Some(SendMode::Async), Some(service)) => wait_until_delivered(service),
        _ => Ok(()),
    }
}
