//! Prometheus metrics (`GET /metrics`). Hot-path counters are resolved once at start-up, so a
//! send costs an atomic add; everything else (status store, librdkafka statistics, the fault
//! proxy, lab runs) is read when Prometheus scrapes.

mod rdkafka_stats;
mod sources;

pub use rdkafka_stats::ProducerStats;
pub use sources::ScrapeSource;

use crate::model::{ProducerMode, SendMode};
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

    /// Its place in [`Outcome::ALL`], where its counter was created.
    fn index(self) -> usize {
        match self {
            Outcome::Ok => 0,
            Outcome::Error => 1,
            Outcome::Rejected => 2,
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RenewalLabels {
    mode: &'static str,
    cause: &'static str,
}

/// The send counters and latency histograms, producer renewals, and the board of librdkafka
/// statistics.
#[derive(Debug)]
pub struct SendMetrics {
    sends: Vec<Counter>,
    latency: Vec<Histogram>,
    renewals: Family<RenewalLabels, Counter>,
    topics_vanished: Counter,
    producer_stats: Mutex<BTreeMap<&'static str, ProducerStats>>,
}

fn index(mode: ProducerMode, send_mode: SendMode) -> usize {
    (mode == ProducerMode::Idempotent) as usize * 2 + (send_mode == SendMode::Async) as usize
}

impl SendMetrics {
    pub fn record(&self, mode: ProducerMode, send_mode: SendMode, outcome: Outcome) {
        let i = index(mode, send_mode) * Outcome::ALL.len() + outcome.index();
        self.sends[i].inc();
    }

    /// Time from accepting a send to its delivery report.
    pub fn observe_latency(&self, mode: ProducerMode, send_mode: SendMode, latency: Duration) {
        self.latency[index(mode, send_mode)].observe(latency.as_secs_f64());
    }

    /// A producer was replaced (`cause`: fatal_error, no_progress, broker_outage, broker_state_lost).
    pub fn renewed(&self, mode: ProducerMode, cause: &'static str) {
        self.renewals.get_or_create(&RenewalLabels { mode: mode.as_str(), cause }).inc();
    }

    /// Known topics a probe found gone from the cluster.
    pub fn topics_vanished(&self, count: usize) {
        self.topics_vanished.inc_by(count as u64);
    }

    pub fn record_stats(&self, producer: ProducerMode, stats: &Statistics) {
        let mut board = self.producer_stats.lock();
        let reports = board.get(producer.as_str()).map_or(0, |s| s.reports) + 1;
        board.insert(producer.as_str(), ProducerStats { reports, ..ProducerStats::from(stats) });
    }

    /// What librdkafka last said about one producer.
    pub fn stats_of(&self, producer: ProducerMode) -> Option<ProducerStats> {
        self.producer_stats.lock().get(producer.as_str()).cloned()
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
        let renewals: Family<RenewalLabels, Counter> = Family::default();
        let topics_vanished = Counter::default();
        if let Some(registry) = registry {
            registry.register(
                "kafka_topics_vanished",
                "Topics the service used that a probe found gone from the cluster (forgotten, created again on use)",
                topics_vanished.clone(),
            );
            registry.register(
                "producer_renewals",
                "Producers replaced, by mode and cause (fatal_error, no_progress, broker_outage, broker_state_lost)",
                renewals.clone(),
            );
            registry.register("producer_sends", "Sends by producer mode, send mode and outcome", sends);
            registry.register(
                "producer_send_latency_seconds",
                "Time from accepting a send to its delivery report",
                latency,
            );
        }
        Self {
            sends: send_counters,
            latency: histograms,
            renewals,
            topics_vanished,
            producer_stats: Mutex::new(BTreeMap::new()),
        }
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
        registry.register_collector(Box::new(rdkafka_stats::StatsCollector(sends.clone())));
        Self { registry, sends }
    }

    /// Adds numbers read at scrape time (status store, proxy, lab).
    pub fn add_source(&mut self, source: Arc<dyn ScrapeSource>) {
        self.registry.register_collector(Box::new(sources::SourceCollector(source)));
    }

    /// Registers a histogram kept by another part (its owner observes it).
    pub fn add_histogram(&mut self, name: &'static str, help: &'static str, histogram: Histogram) {
        self.registry.register(name, help, histogram);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_indexes_its_own_counter() {
        for (i, outcome) in Outcome::ALL.iter().enumerate() {
            assert_eq!(outcome.index(), i, "{outcome:?}");
        }
    }

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
