//! One lab run, step by step: send `count` events to a fresh topic under one fault, through the
//! same send core as every other send (with its own producer pair, status store and a short
//! `socket.timeout.ms`), account for every send, clear the fault, read the topic back, report.

use super::faults::proxy_fault;
use super::registry::RunRecord;
use super::verifier::{analyse, read_back, ReadBound, SentEvent};
use crate::error::AppError;
use crate::model::{DeliveryState, FaultKind, LabRunState, SendMode, SendRequest, Verification};
use crate::server::access::AccessPolicy;
use crate::server::fault_proxy::FaultProxy;
use crate::server::idempotency::{IdempotencyGate, LocalKeyLog, ScopedKey};
use crate::server::kafka::{DeliveryReports, KafkaSettings, ProducerPair, RecordProducer, TopicCatalog};
use crate::server::metrics::SendMetrics;
use crate::server::send::{KafkaPorts, SendService};
use crate::server::status_store::StatusStore;
use crate::server::status_table::{LocalStatusTable, StatusTable};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The bound on each lab send (`message.timeout.ms`).
pub const LAB_DELIVERY_TIMEOUT_MS: u32 = 30_000;
/// How long a run waits for its last delivery reports beyond the delivery timeout.
const REPORT_MARGIN: Duration = Duration::from_secs(5);
/// Keys cycle over this many values, so order can be judged per key.
const LAB_KEYS: usize = 4;

/// How often the run's producers report their statistics (for `resentMessages`).
const STATS_INTERVAL_MS: u32 = 100;

/// The producer settings of a run under `fault`: the service's security settings through the
/// lab's proxy, a bounded delivery, and for the proxy's faults a short `socket.timeout.ms`, so
/// that a held answer makes the client retry. Without a proxy fault the service's own socket
/// timeout holds: a short one would make a busy broker's slow answers look like lost ones (a
/// plain producer then writes duplicates with no fault at all: 23 in 100,000 on this project's
/// 2-core machine).
pub fn run_settings(ctx: &RunContext, fault: FaultKind) -> KafkaSettings {
    let mut lab = ctx.settings.clone();
    if let Some(via) = ctx.via() {
        lab.bootstrap_servers = via;
    }
    if fault.needs_proxy() {
        lab.socket_timeout_ms = crate::model::LAB_SOCKET_TIMEOUT_MS;
    }
    lab.statistics_interval_ms = STATS_INTERVAL_MS;
    lab.delivery_timeout_ms = LAB_DELIVERY_TIMEOUT_MS;
    lab
}

/// What every run needs: where to send, and the proxy that injects its fault.
pub struct RunContext {
    /// The lab's own proxy in front of the cluster (none on a cluster reached over TLS).
    pub proxy: Option<Arc<FaultProxy>>,
    /// The cluster's bootstrap servers.
    pub cluster: String,
    /// The service's Kafka settings; each run adapts them ([`run_settings`]).
    pub settings: KafkaSettings,
    pub topics: Arc<dyn TopicCatalog>,
    pub access: Arc<AccessPolicy>,
}

impl RunContext {
    /// The address the run's producers bootstrap from: the lab proxy's.
    pub fn via(&self) -> Option<String> {
        self.proxy.as_ref().map(|p| p.bootstrap())
    }
}

/// How every send of a run ended, and how long the acknowledged ones took.
struct Accounting {
    acked: u64,
    failed: u64,
    unknown: u64,
    latencies_ms: Vec<f64>,
}

/// Runs a registered run to its end and returns its final report. The fault is cleared on
/// every path; `stop` (shutdown) ends the run between two sends.
pub async fn execute(ctx: &RunContext, record: &RunRecord, stop: &CancellationToken) {
    let started = Instant::now();
    record.lock().state = LabRunState::Running;
    let outcome = run_steps(ctx, record, stop).await;
    if let Some(proxy) = &ctx.proxy {
        proxy.clear_fault();
    }
    let mut report = record.lock();
    report.duration_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(verification) => {
            report.verification = verification;
            report.state = LabRunState::Done;
        }
        Err(error) => {
            report.state = LabRunState::Failed;
            report.error = Some(error.to_string());
        }
    }
    tracing::info!(run = %report.id, mode = %report.mode, fault = report.fault.kind.as_str(),
        sent = report.sent, acked = report.acked, failed = report.failed, unknown = report.unknown,
        records = report.verification.records_in_topic, duplicates = report.verification.duplicates,
        lost = report.verification.lost, duration_ms = report.duration_ms, "lab run finished");
}

async fn run_steps(ctx: &RunContext, record: &RunRecord, stop: &CancellationToken) -> Result<Verification, AppError> {
    let (id, mode, send_mode, count, fault, topic) = {
        let r = record.lock();
        (r.id.clone(), r.mode, r.send_mode, r.count, r.fault.clone(), r.topic.clone())
    };
    let partitions = ctx.topics.partitions(&topic).await?;
    let settings = run_settings(ctx, fault.kind);
    let copies = if fault.kind.caller_retries() { 2 } else { 1 };
    // The run's own store holds every one of its sends: none is evicted (capacity = sends).
    let store = Arc::new(StatusStore::new(count as usize * copies, Duration::from_secs(3600)));
    let table: Arc<dyn StatusTable> = Arc::new(LocalStatusTable::new(store.clone()));
    let reports = Arc::new(DeliveryReports::new(table.clone(), SendMetrics::detached()));
    let producers = Arc::new(
        ProducerPair::new(&settings, reports.clone(), ctx.topics.clone())
            .map_err(|e| AppError::internal(format!("cannot create the lab's producers: {e}")))?,
    );
    let ports = KafkaPorts { producers: producers.clone(), topics: ctx.topics.clone() };
    let delivery_timeout = Duration::from_millis(LAB_DELIVERY_TIMEOUT_MS.into());
    let service =
        SendService::new(ports, table, ctx.access.clone(), reports.metrics().clone(), &topic, delivery_timeout);
    // The run's own keys (client-retry-with-key): one per event, both sends of it carry it.
    let keys = Arc::new(LocalKeyLog::new(Duration::from_secs(3600), count as usize));
    let gate = IdempotencyGate::new(service, keys, false, delivery_timeout);
    let keyed = fault.kind == FaultKind::ClientRetryWithKey;
    if let (Some(proxy), Some(active)) = (&ctx.proxy, proxy_fault(&fault)) {
        proxy.set_fault(active);
    }
    let mut sent_events = Vec::with_capacity(count as usize);
    let stopped = || AppError::Unavailable { message: "The run was stopped: the service is shutting down".into() };
    for i in 0..count as usize {
        let event = SentEvent { event_id: format!("{id}-{i:06}"), key: format!("key-{}", i % LAB_KEYS), acked: false };
        let key = keyed.then(|| ScopedKey::new("lab", &event.event_id));
        for _ in 0..copies {
            let replayed = tokio::select! {
                _ = stop.cancelled() => return Err(stopped()),
                sent = send_one(&gate, mode, send_mode, &topic, &event, key.clone()) => sent?,
            };
            let mut r = record.lock();
            r.sent += 1;
            r.replayed += u64::from(replayed);
        }
        sent_events.push(event);
    }
    let accounting = tokio::select! {
        _ = stop.cancelled() => return Err(stopped()),
        accounting = wait_for_reports(&store, record, delivery_timeout + REPORT_MARGIN) => accounting,
    };
    // Let the producers finish their own work before the read-back, then drop them.
    let remaining = tokio::task::spawn_blocking(move || producers.flush(Duration::from_secs(5))).await.unwrap_or(-1);
    if remaining != 0 {
        tracing::warn!(remaining, "lab producer still had records after its last report");
    }
    if let Some(proxy) = &ctx.proxy {
        proxy.clear_fault();
    }
    record_accounting(record, &accounting, delivery_timeout + REPORT_MARGIN);
    let handed_over = {
        let r = record.lock();
        r.sent - r.replayed
    };
    let resent = resent_messages(reports.metrics(), mode, handed_over).await;
    record.lock().resent_messages = resent;
    let acked_offsets = mark_acked(&store, &mut sent_events);
    let bound = ReadBound { acked_offsets, quiet: Duration::from_millis(1500), max_wait: Duration::from_secs(30) };
    let records = tokio::task::spawn_blocking(move || read_back(&settings, &topic, partitions, &bound))
        .await
        .map_err(|e| AppError::internal(format!("the read-back task failed: {e}")))??;
    Ok(analyse(&sent_events, &records))
}

/// One send of an event (under its key, if any); true when its answer was a replay.
async fn send_one(
    gate: &IdempotencyGate,
    mode: crate::model::ProducerMode,
    send_mode: SendMode,
    topic: &str,
    event: &SentEvent,
    key: Option<ScopedKey>,
) -> Result<bool, AppError> {
    let request = SendRequest {
        mode,
        event_id: event.event_id.clone(),
        topic: topic.to_owned(),
        send_mode,
        key: event.key.clone(),
        partition: None,
        content: None,
    };
    let answer = gate.send_request(request, key).await;
    match answer.result {
        Ok(_) => Ok(answer.replayed),
        // A sync send that failed still has its ERROR status in the run's store.
        Err(error @ (AppError::Broker { .. } | AppError::Timeout { .. })) if send_mode == SendMode::Sync => {
            tracing::debug!(%error, "lab sync send failed");
            Ok(answer.replayed)
        }
        Err(error) => Err(error),
    }
}

/// Waits (bounded) until every send has its delivery report, keeping the run's acked/failed
/// counts current for whoever watches its progress; then counts every send's end.
async fn wait_for_reports(store: &StatusStore, record: &RunRecord, bound: Duration) -> Accounting {
    let deadline = Instant::now() + bound;
    loop {
        let (acked, failed) = store.outcome_counts();
        {
            let mut r = record.lock();
            r.acked = acked;
            r.failed = failed;
        }
        if store.pending_count() == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut accounting = Accounting { acked: 0, failed: 0, unknown: 0, latencies_ms: Vec::new() };
    store.for_each(|status| match status.state {
        DeliveryState::Ok => {
            accounting.acked += 1;
            accounting.latencies_ms.extend(status.latency_ms);
        }
        DeliveryState::Error => accounting.failed += 1,
        _ => accounting.unknown += 1,
    });
    accounting.latencies_ms.sort_by(f64::total_cmp);
    accounting
}

fn record_accounting(record: &RunRecord, accounting: &Accounting, bound: Duration) {
    let mut r = record.lock();
    r.acked = accounting.acked;
    r.failed = accounting.failed;
    r.unknown = accounting.unknown;
    let latencies = &accounting.latencies_ms;
    r.latency_p50_ms = latencies.get(latencies.len() / 2).copied();
    r.latency_max_ms = latencies.last().copied();
    r.unknown_reason = (accounting.unknown > 0).then(|| {
        format!(
            "{} send(s) had no delivery report within {} s (the run's delivery timeout plus a margin): \
             the broker may or may not have written them; the read-back shows what it holds",
            accounting.unknown,
            bound.as_secs()
        )
    });
}

/// Messages transmitted beyond the sends, once the producer's statistics are newer than the
/// end of the run (bounded: a report every [`STATS_INTERVAL_MS`]).
async fn resent_messages(metrics: &SendMetrics, mode: crate::model::ProducerMode, sent: u64) -> u64 {
    let reports_at_end = metrics.stats_of(mode).map_or(0, |s| s.reports);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut fresh = metrics.stats_of(mode);
    while fresh.as_ref().is_none_or(|s| s.reports < reports_at_end + 2) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(u64::from(STATS_INTERVAL_MS) / 2)).await;
        fresh = metrics.stats_of(mode);
    }
    fresh.map_or(0, |s| u64::try_from(s.sent_messages).unwrap_or(0).saturating_sub(sent))
}

/// Marks each event whose send was acknowledged (one pass over the statuses, one map lookup
/// each); returns, per partition, the highest offset an acknowledgement gave.
fn mark_acked(store: &StatusStore, events: &mut [SentEvent]) -> HashMap<i32, i64> {
    let index: HashMap<String, usize> = events.iter().enumerate().map(|(i, e)| (e.event_id.clone(), i)).collect();
    let mut acked_offsets: HashMap<i32, i64> = HashMap::new();
    store.for_each(|status| {
        if let (Some(p), Some(o)) = (status.partition, status.offset) {
            let e = acked_offsets.entry(p).or_insert(o);
            *e = (*e).max(o);
        }
        if status.state == DeliveryState::Ok {
            if let Some(&i) = index.get(&status.event_id) {
                events[i].acked = true;
            }
        }
    });
    acked_offsets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SendStatus;
    use crate::server::status_store::{pending_for_test, Delivered};
    use uuid::Uuid;

    /// Matching acknowledgements to events is one pass with a map lookup each. The bound is a
    /// complexity guard, not a speed target: linear takes well under a second here, the former
    /// `iter().find` per status (10^10 string comparisons at this size) takes minutes.
    #[test]
    fn matching_100000_acknowledgements_to_their_events_is_linear() {
        let n = 100_000;
        let store = StatusStore::new(n, Duration::from_secs(60));
        let mut events = Vec::with_capacity(n);
        for i in 0..n {
            let event_id = format!("run-{i:06}");
            let request_id = Uuid::new_v4();
            let status = SendStatus { request_id, key: "k".into(), ..pending_for_test(&event_id) };
            store.insert(status).expect("room");
            // Every event but the last is acknowledged.
            if i + 1 < n {
                let delivered = Delivered::Ok { partition: (i % 3) as i32, offset: i as i64 };
                store.complete(&request_id, delivered, Duration::ZERO);
            }
            events.push(SentEvent { event_id, key: "k".into(), acked: false });
        }
        let started = Instant::now();
        let offsets = mark_acked(&store, &mut events);
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        assert_eq!(events.iter().filter(|e| e.acked).count(), n - 1);
        assert!(!events[n - 1].acked);
        assert_eq!(offsets.get(&0), Some(&((n as i64 - 2) / 3 * 3)));
    }
}
