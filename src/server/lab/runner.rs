//! Lab runs: send `count` events to a fresh topic under one fault, through the same send core
//! as every other send (with its own producer pair and a short `socket.timeout.ms`), wait for
//! every delivery report, clear the fault, read the topic back, and report.

use super::proxy::{ActiveFault, FaultProxy};
use super::verifier::{analyse, read_back, ReadBound, SentEvent};
use crate::error::AppError;
use crate::model::{
    DeliveryState, FaultKind, FaultSpec, FaultStatus, LabRunReport, LabRunRequest, LabRunState, SendMode, SendRequest,
    Verification, MAX_LAB_COUNT,
};
use crate::server::access::AccessPolicy;
use crate::server::kafka::{KafkaSettings, ProducerPair, TopicRegistry};
use crate::server::metrics::SendMetrics;
use crate::server::send::SendService;
use crate::server::status_store::StatusStore;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// `socket.timeout.ms` of the lab's producers: short, so that a held answer makes them retry.
pub const LAB_SOCKET_TIMEOUT_MS: u32 = 1000;
/// The bound on each lab send (`message.timeout.ms`).
const LAB_DELIVERY_TIMEOUT_MS: u32 = 30_000;
const DEFAULT_DELAY_MS: u64 = 2_500;
const DEFAULT_PRODUCE_REQUESTS: u32 = 3;
const DEFAULT_UNAVAILABLE_MS: u64 = 2_000;
const LAB_PARTITIONS: i32 = 3;
/// Keys cycle over this many values, so order can be judged per key.
const LAB_KEYS: usize = 4;
const KEPT_RUNS: usize = 100;

/// Fills in the defaults that make a fault bite, and refuses parameters that cannot work.
pub fn resolve_fault(spec: &FaultSpec) -> Result<FaultSpec, AppError> {
    let invalid = |m: String| AppError::Invalid { field: None, message: m };
    let mut out = FaultSpec::of(spec.kind);
    match spec.kind {
        FaultKind::DelayProduceResponse => {
            let delay = spec.delay_ms.unwrap_or(DEFAULT_DELAY_MS);
            if !(u64::from(LAB_SOCKET_TIMEOUT_MS) + 1..=60_000).contains(&delay) {
                return Err(invalid(format!(
                    "fault.delayMs must be above the lab's socket.timeout.ms ({LAB_SOCKET_TIMEOUT_MS}) and at most 60000, got {delay}"
                )));
            }
            out.delay_ms = Some(delay);
            out.produce_requests = Some(produce_requests(spec)?);
        }
        FaultKind::DropConnectionAfterProduce => out.produce_requests = Some(produce_requests(spec)?),
        FaultKind::BrokerUnavailable => {
            let duration = spec.duration_ms.unwrap_or(DEFAULT_UNAVAILABLE_MS);
            if !(1..=20_000).contains(&duration) {
                return Err(invalid(format!("fault.durationMs must be 1 to 20000, got {duration}")));
            }
            out.duration_ms = Some(duration);
        }
        FaultKind::None | FaultKind::ClientRetry => {}
    }
    Ok(out)
}

fn no_proxy(kind: FaultKind) -> AppError {
    AppError::Rejected {
        status: 409,
        message: format!(
            "The fault '{}' is injected by the proxy in front of the embedded broker; this service uses an \
             external cluster (KAFKA_BOOTSTRAP_SERVERS). Start it without that variable to use faults; \
             'none' and 'client-retry' work everywhere",
            kind.as_str()
        ),
    }
}

fn produce_requests(spec: &FaultSpec) -> Result<u32, AppError> {
    match spec.produce_requests.unwrap_or(DEFAULT_PRODUCE_REQUESTS) {
        n @ 1..=1000 => Ok(n),
        n => {
            Err(AppError::Invalid { field: None, message: format!("fault.produceRequests must be 1 to 1000, got {n}") })
        }
    }
}

/// What the proxy must do for a resolved fault (`None` for faults the proxy has no part in).
pub fn proxy_fault(spec: &FaultSpec) -> Option<ActiveFault> {
    match spec.kind {
        FaultKind::DelayProduceResponse => Some(ActiveFault::DelayProduceResponse {
            delay: Duration::from_millis(spec.delay_ms.unwrap_or(DEFAULT_DELAY_MS)),
            remaining: spec.produce_requests.unwrap_or(DEFAULT_PRODUCE_REQUESTS),
        }),
        FaultKind::DropConnectionAfterProduce => Some(ActiveFault::DropConnectionAfterProduce {
            remaining: spec.produce_requests.unwrap_or(DEFAULT_PRODUCE_REQUESTS),
        }),
        FaultKind::BrokerUnavailable => Some(ActiveFault::BrokerUnavailable {
            until: Instant::now() + Duration::from_millis(spec.duration_ms.unwrap_or(DEFAULT_UNAVAILABLE_MS)),
        }),
        FaultKind::None | FaultKind::ClientRetry => None,
    }
}

pub struct LabRunner {
    proxy: Option<Arc<FaultProxy>>,
    settings: KafkaSettings,
    topics: Arc<TopicRegistry>,
    access: Arc<AccessPolicy>,
    runs: Mutex<VecDeque<Arc<Mutex<LabRunReport>>>>,
    finished: std::sync::atomic::AtomicU64,
    turn: tokio::sync::Mutex<()>,
}

impl LabRunner {
    pub fn new(
        proxy: Option<Arc<FaultProxy>>,
        settings: &KafkaSettings,
        topics: Arc<TopicRegistry>,
        access: Arc<AccessPolicy>,
    ) -> Self {
        let mut settings = settings.clone();
        settings.socket_timeout_ms = LAB_SOCKET_TIMEOUT_MS;
        settings.statistics_interval_ms = 0;
        settings.delivery_timeout_ms = LAB_DELIVERY_TIMEOUT_MS;
        Self {
            proxy,
            settings,
            topics,
            access,
            runs: Mutex::new(VecDeque::new()),
            finished: std::sync::atomic::AtomicU64::new(0),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// The fault the proxy applies now (to every producer behind it, not only lab runs).
    pub fn fault_status(&self) -> FaultStatus {
        let Some(proxy) = &self.proxy else {
            return FaultStatus::unavailable();
        };
        let (kind, delay_ms, produce_requests_left, ms_left) = match proxy.fault() {
            ActiveFault::None => (FaultKind::None, None, None, None),
            ActiveFault::DelayProduceResponse { delay, remaining } => {
                (FaultKind::DelayProduceResponse, Some(delay.as_millis() as u64), Some(remaining), None)
            }
            ActiveFault::DropConnectionAfterProduce { remaining } => {
                (FaultKind::DropConnectionAfterProduce, None, Some(remaining), None)
            }
            ActiveFault::BrokerUnavailable { until } => (
                FaultKind::BrokerUnavailable,
                None,
                None,
                Some(until.saturating_duration_since(Instant::now()).as_millis() as u64),
            ),
        };
        FaultStatus { available: true, kind, delay_ms, produce_requests_left, ms_left }
    }

    /// Switches a fault on (or off with `none`) for every producer behind the proxy.
    pub fn set_fault(&self, spec: &FaultSpec) -> Result<FaultStatus, AppError> {
        let spec = resolve_fault(spec)?;
        let Some(proxy) = &self.proxy else {
            return Err(no_proxy(spec.kind));
        };
        if spec.kind == FaultKind::ClientRetry {
            return Err(AppError::Invalid {
                field: None,
                message: "client-retry is a lab scenario (the caller sends twice), not a proxy fault".into(),
            });
        }
        match proxy_fault(&spec) {
            Some(active) => proxy.set_fault(active),
            None => proxy.clear_fault(),
        }
        tracing::info!(fault = spec.kind.as_str(), "fault switched");
        Ok(self.fault_status())
    }

    /// The proxy in front of the embedded broker (none with an external cluster).
    pub fn proxy(&self) -> Option<&Arc<FaultProxy>> {
        self.proxy.as_ref()
    }

    /// Runs that reached an end (done or failed) since start.
    pub fn finished_runs(&self) -> u64 {
        self.finished.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Past and current runs, newest first.
    pub fn list(&self) -> Vec<LabRunReport> {
        self.runs.lock().iter().map(|r| r.lock().clone()).collect()
    }

    pub fn get(&self, id: &str) -> Option<LabRunReport> {
        self.runs.lock().iter().map(|r| r.lock().clone()).find(|r| r.id == id)
    }

    /// Checks a request and registers it as queued; the run itself is [`LabRunner::execute`].
    pub fn enqueue(&self, request: &LabRunRequest) -> Result<Arc<Mutex<LabRunReport>>, AppError> {
        if !(1..=MAX_LAB_COUNT).contains(&request.count) {
            return Err(AppError::Invalid {
                field: None,
                message: format!("count must be 1 to {MAX_LAB_COUNT}, got {}", request.count),
            });
        }
        let fault = resolve_fault(&request.fault.spec())?;
        if fault.kind.needs_proxy() && self.proxy.is_none() {
            return Err(no_proxy(fault.kind));
        }
        let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let report = LabRunReport {
            topic: format!("lab-{}-{id}", request.mode),
            id,
            state: LabRunState::Queued,
            mode: request.mode,
            send_mode: request.send_mode,
            count: request.count,
            fault,
            settings: self.settings.describe(request.mode),
            sent: 0,
            acked: 0,
            failed: 0,
            verification: Verification::default(),
            duration_ms: 0,
            error: None,
        };
        let record = Arc::new(Mutex::new(report));
        let mut runs = self.runs.lock();
        runs.push_front(record.clone());
        runs.truncate(KEPT_RUNS);
        Ok(record)
    }

    /// Runs a registered run in its own task, so it finishes (and clears its fault) even if
    /// whoever asked for it goes away.
    pub fn spawn(self: &Arc<Self>, record: Arc<Mutex<LabRunReport>>) -> tokio::task::JoinHandle<LabRunReport> {
        let runner = self.clone();
        tokio::spawn(async move { runner.execute(record).await })
    }

    /// Runs a registered run to its end (in turn with others), and returns its final report.
    async fn execute(&self, record: Arc<Mutex<LabRunReport>>) -> LabRunReport {
        let _turn = self.turn.lock().await;
        let started = Instant::now();
        record.lock().state = LabRunState::Running;
        let outcome = self.run_steps(&record).await;
        if let Some(proxy) = &self.proxy {
            proxy.clear_fault();
        }
        self.finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
            sent = report.sent, acked = report.acked, records = report.verification.records_in_topic,
            duplicates = report.verification.duplicates, lost = report.verification.lost, "lab run finished");
        report.clone()
    }

    async fn run_steps(&self, record: &Arc<Mutex<LabRunReport>>) -> Result<Verification, AppError> {
        let (id, mode, send_mode, count, fault, topic) = {
            let r = record.lock();
            (r.id.clone(), r.mode, r.send_mode, r.count, r.fault.clone(), r.topic.clone())
        };
        self.topics.ensure(&topic).await?;
        let copies = if fault.kind == FaultKind::ClientRetry { 2 } else { 1 };
        let store = Arc::new(StatusStore::new(count as usize * copies + 16, Duration::from_secs(3600)));
        let producers = Arc::new(
            ProducerPair::new(&self.settings, store.clone(), self.topics.clone(), SendMetrics::detached())
                .map_err(|e| AppError::internal(format!("cannot create the lab's producers: {e}")))?,
        );
        let service = SendService::new(
            producers.clone(),
            self.topics.clone(),
            store.clone(),
            self.access.clone(),
            &topic,
            std::time::Duration::from_millis(LAB_DELIVERY_TIMEOUT_MS.into()),
        );
        if let (Some(proxy), Some(active)) = (&self.proxy, proxy_fault(&fault)) {
            proxy.set_fault(active);
        }
        let mut sent_events = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let event_id = format!("{id}-{i:06}");
            let key = format!("key-{}", i % LAB_KEYS);
            for _ in 0..copies {
                let request = SendRequest {
                    mode,
                    event_id: event_id.clone(),
                    topic: topic.clone(),
                    send_mode,
                    key: key.clone(),
                    partition: None,
                };
                match service.send_request(request).await {
                    Ok(_) => {}
                    // A sync send that failed still has its ERROR status in the run's store.
                    Err(error @ (AppError::Broker { .. } | AppError::Timeout { .. }))
                        if send_mode == SendMode::Sync =>
                    {
                        tracing::debug!(%error, "lab sync send failed");
                    }
                    Err(error) => return Err(error),
                }
                record.lock().sent += 1;
            }
            sent_events.push(SentEvent { event_id, key, acked: false });
        }
        wait_for_reports(&store, record).await;
        // Let the producer finish its own work before the read-back, then drop it.
        let remaining =
            tokio::task::spawn_blocking(move || producers.flush(Duration::from_secs(5))).await.unwrap_or(-1);
        if remaining != 0 {
            tracing::warn!(remaining, "lab producer still had records after its last report");
        }
        if let Some(proxy) = &self.proxy {
            proxy.clear_fault();
        }
        let statuses = store.snapshot();
        let mut acked_offsets: HashMap<i32, i64> = HashMap::new();
        for status in &statuses {
            if let (Some(p), Some(o)) = (status.partition, status.offset) {
                let e = acked_offsets.entry(p).or_insert(o);
                *e = (*e).max(o);
            }
            if status.state == DeliveryState::Ok {
                if let Some(event) = sent_events.iter_mut().find(|e| e.event_id == status.event_id) {
                    event.acked = true;
                }
            }
        }
        let settings = self.settings.clone();
        let bound = ReadBound { acked_offsets, quiet: Duration::from_millis(1500), max_wait: Duration::from_secs(30) };
        let records = tokio::task::spawn_blocking(move || read_back(&settings, &topic, LAB_PARTITIONS, &bound))
            .await
            .map_err(|e| AppError::internal(format!("the read-back task failed: {e}")))??;
        Ok(analyse(&sent_events, &records))
    }
}

/// Waits (bounded by the delivery timeout) until every send has its delivery report, keeping
/// the run's acked/failed counts current for whoever watches its progress.
async fn wait_for_reports(store: &StatusStore, record: &Arc<Mutex<LabRunReport>>) {
    let deadline = Instant::now() + Duration::from_millis(u64::from(LAB_DELIVERY_TIMEOUT_MS) + 5_000);
    loop {
        let (acked, failed) = store.outcome_counts();
        {
            let mut r = record.lock();
            r.acked = acked;
            r.failed = failed;
        }
        if store.pending_count() == 0 || Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
