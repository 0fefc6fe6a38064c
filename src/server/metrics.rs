//! Prometheus metrics (`GET /metrics`). Hot-path counters are resolved once at start-up, so a
//! send costs an atomic add; everything else (status store, librdkafka statistics, the fault
//! proxy, lab runs) is read when Prometheus scrapes.

use crate::model::{ProducerMode, SendMode};
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use rdkafka::Statistics;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How a send ended, for the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The broker acknowledged it.
    Ok,
    /// Its delivery failed (timeout, broker error, purge).
    Error,
    /// Refused before it reached the producer (queue full, unknown partition, forbidden topic).
    Rejected,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Error, Outcome::Rejected];

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Rejected => "rejected",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SendLabels {
    mode: &'static str,
    send_mode: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    mode: &'static str,
    send_mode: &'static str,
}

/// What librdkafka last said about one producer (from `statistics.interval.ms`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerStats {
    pub queued_messages: u64,
    pub in_flight_requests: i64,
    pub sent_messages: i64,
    pub retries: u64,
    pub errors: u64,
    pub request_timeouts: u64,
    /// Average round-trip time per broker, in seconds.
    pub broker_rtt: BTreeMap<String, f64>,
}

impl From<&Statistics> for ProducerStats {
    fn from(s: &Statistics) -> Self {
        let brokers = s.brokers.values().filter(|b| b.nodeid >= 0);
        Self {
            queued_messages: s.msg_cnt,
            in_flight_requests: brokers.clone().map(|b| b.waitresp_cnt).sum(),
            sent_messages: s.txmsgs,
            retries: brokers.clone().map(|b| b.txretries).sum(),
            errors: brokers.clone().map(|b| b.txerrs).sum(),
            request_timeouts: brokers.clone().map(|b| b.req_timeouts).sum(),
            broker_rtt: brokers
                .filter_map(|b| b.rtt.as_ref().map(|w| (b.nodename.clone(), w.avg as f64 / 1_000_000.0)))
                .collect(),
        }
    }
}

/// Numbers read at scrape time from the parts that own them.
pub trait ScrapeSource: Send + Sync + 'static {
    /// (name, help, value) gauges.
    fn gauges(&self) -> Vec<(&'static str, &'static str, i64)>;
    /// (name, help, value) counters; names without the `_total` suffix.
    fn counters(&self) -> Vec<(&'static str, &'static str, u64)>;
}

/// The send counters and latency histograms, and the board of librdkafka statistics.
#[derive(Debug)]
pub struct SendMetrics {
    sends: Vec<Counter>,
    latency: Vec<Histogram>,
    producer_stats: Mutex<BTreeMap<&'static str, ProducerStats>>,
}

fn index(mode: ProducerMode, send_mode: SendMode) -> usize {
    (mode == ProducerMode::Idempotent) as usize * 2 + (send_mode == SendMode::Async) as usize
}

impl SendMetrics {
    pub fn record(&self, mode: ProducerMode, send_mode: SendMode, outcome: Outcome) {
        let i = index(mode, send_mode) * Outcome::ALL.len() + outcome as usize;
        self.sends[i].inc();
    }

    /// Time from accepting a send to its delivery report.
    pub fn observe_latency(&self, mode: ProducerMode, send_mode: SendMode, latency: Duration) {
        self.latency[index(mode, send_mode)].observe(latency.as_secs_f64());
    }

    pub fn record_stats(&self, producer: ProducerMode, stats: &Statistics) {
        self.producer_stats.lock().insert(producer.as_str(), ProducerStats::from(stats));
    }

    /// Counters that are not registered anywhere (for the lab's own producers).
    pub fn detached() -> Arc<Self> {
        Arc::new(Self::build(None))
    }

    fn build(registry: Option<&mut Registry>) -> Self {
        let sends: Family<SendLabels, Counter> = Family::default();
        let latency: Family<LatencyLabels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_25, 2.0, 18)));
        let mut send_counters = Vec::new();
        let mut histograms = Vec::new();
        for mode in ProducerMode::ALL {
            for send_mode in SendMode::ALL {
                let (m, s) = (mode.as_str(), send_mode.as_str());
                histograms.push(latency.get_or_create(&LatencyLabels { mode: m, send_mode: s }).clone());
                for outcome in Outcome::ALL {
                    let labels = SendLabels { mode: m, send_mode: s, outcome: outcome.as_str() };
                    send_counters.push(sends.get_or_create(&labels).clone());
                }
            }
        }
        if let Some(registry) = registry {
            registry.register("producer_sends", "Sends by producer mode, send mode and outcome", sends);
            registry.register(
                "producer_send_latency_seconds",
                "Time from accepting a send to its delivery report",
                latency,
            );
        }
        Self { sends: send_counters, latency: histograms, producer_stats: Mutex::new(BTreeMap::new()) }
    }
}

/// The registry behind `/metrics`.
pub struct Metrics {
    registry: Registry,
    pub sends: Arc<SendMetrics>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let sends = Arc::new(SendMetrics::build(Some(&mut registry)));
        registry.register_collector(Box::new(StatsCollector(sends.clone())));
        Self { registry, sends }
    }

    /// Adds numbers read at scrape time (status store, proxy, lab).
    pub fn add_source(&mut self, source: Arc<dyn ScrapeSource>) {
        self.registry.register_collector(Box::new(SourceCollector(source)));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

struct SourceCollector(Arc<dyn ScrapeSource>);

impl std::fmt::Debug for SourceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceCollector")
    }
}

impl Collector for SourceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, value) in self.0.gauges() {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        for (name, help, value) in self.0.counters() {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProducerLabel {
    producer: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BrokerLabel {
    producer: &'static str,
    broker: String,
}

/// librdkafka's statistics, per producer.
#[derive(Debug)]
struct StatsCollector(Arc<SendMetrics>);

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let board = self.0.producer_stats.lock().clone();
        type Field = fn(&ProducerStats) -> i64;
        let gauges: [(&str, &str, Field); 2] = [
            ("rdkafka_queued_messages", "Messages in the producer's local queue", |s| s.queued_messages as i64),
            ("rdkafka_in_flight_requests", "Requests sent and awaiting a response", |s| s.in_flight_requests),
        ];
        for (name, help, field) in gauges {
            let mut metric =
                encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Gauge)?;
            for (producer, stats) in &board {
                let labels = ProducerLabel { producer };
                ConstGauge::new(field(stats)).encode(metric.encode_family(&labels)?)?;
            }
        }
        let counters: [(&str, &str, Field); 4] = [
            ("rdkafka_sent_messages", "Messages sent to brokers", |s| s.sent_messages),
            ("rdkafka_retries", "Requests retried", |s| s.retries as i64),
            ("rdkafka_errors", "Transmission errors", |s| s.errors as i64),
            ("rdkafka_request_timeouts", "Requests that timed out", |s| s.request_timeouts as i64),
        ];
        for (name, help, field) in counters {
            let mut metric =
                encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Counter)?;
            for (producer, stats) in &board {
                let labels = ProducerLabel { producer };
                ConstCounter::new(field(stats).max(0) as u64).encode(metric.encode_family(&labels)?)?;
            }
        }
        let mut rtt = encoder.encode_descriptor(
            "rdkafka_broker_rtt_seconds",
            "Average broker round-trip time",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (producer, stats) in &board {
            for (broker, seconds) in &stats.broker_rtt {
                let labels = BrokerLabel { producer, broker: broker.clone() };
                ConstGauge::new(*seconds).encode(rtt.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

impl ScrapeSource for crate::server::status_store::StatusStore {
    fn gauges(&self) -> Vec<(&'static str, &'static str, i64)> {
        vec![
            ("producer_pending_sends", "Sends waiting for their delivery report", self.pending_count() as i64),
            ("status_store_entries", "Statuses kept in the bounded store", self.len() as i64),
        ]
    }

    fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        vec![("status_store_evictions", "Statuses evicted by the count or age bound", self.evicted_count())]
    }
}

impl ScrapeSource for crate::server::lab::LabRunner {
    fn gauges(&self) -> Vec<(&'static str, &'static str, i64)> {
        let active = self.fault_status().kind != crate::model::FaultKind::None;
        vec![("lab_fault_active", "1 while the proxy injects a fault", active as i64)]
    }

    fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        let runs = self.finished_runs();
        let mut counters = vec![("lab_runs", "Lab runs finished since start", runs)];
        if let Some(proxy) = self.proxy() {
            let c = proxy.counters();
            let read = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            counters.extend([
                ("fault_proxy_connections", "Connections relayed to the embedded broker", read(&c.connections)),
                ("fault_proxy_produce_requests", "Produce requests seen by the proxy", read(&c.produce_requests)),
                ("fault_proxy_delayed_responses", "Produce responses held by a fault", read(&c.delayed_responses)),
                (
                    "fault_proxy_dropped_connections",
                    "Connections cut after a Produce request",
                    read(&c.dropped_connections),
                ),
                (
                    "fault_proxy_refused_connections",
                    "Connections refused while the broker played absent",
                    read(&c.refused_connections),
                ),
            ]);
        }
        counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_and_latency_are_exported_with_their_labels() {
        let metrics = Metrics::new();
        metrics.sends.record(ProducerMode::Idempotent, SendMode::Async, Outcome::Ok);
        metrics.sends.record(ProducerMode::Idempotent, SendMode::Async, Outcome::Ok);
        metrics.sends.record(ProducerMode::Plain, SendMode::Sync, Outcome::Rejected);
        metrics.sends.observe_latency(ProducerMode::Plain, SendMode::Sync, Duration::from_millis(3));
        let text = metrics.render();
        assert!(text.contains(r#"producer_sends_total{mode="idempotent",send_mode="async",outcome="ok"} 2"#), "{text}");
        assert!(text.contains(r#"producer_sends_total{mode="plain",send_mode="sync",outcome="rejected"} 1"#), "{text}");
        assert!(text.contains(r#"producer_send_latency_seconds_count{mode="plain",send_mode="sync"} 1"#), "{text}");
    }
}
