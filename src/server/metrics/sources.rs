//! Numbers read at scrape time from the parts that own them (the status store, the lab).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::sync::Arc;

/// Numbers read at scrape time from the parts that own them.
pub trait ScrapeSource: Send + Sync + 'static {
    /// (name, help, value) gauges.
    fn gauges(&self) -> Vec<(&'static str, &'static str, i64)>;
    /// (name, help, value) counters; names without the `_total` suffix.
    fn counters(&self) -> Vec<(&'static str, &'static str, u64)>;
}

pub(super) struct SourceCollector(pub(super) Arc<dyn ScrapeSource>);

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

impl ScrapeSource for crate::server::lab::LabService {
    fn gauges(&self) -> Vec<(&'static str, &'static str, i64)> {
        let active = self.fault_status().kind != crate::model::FaultKind::None;
        vec![("lab_fault_active", "1 while the global switch injects a fault", active as i64)]
    }

    fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut total = crate::server::fault_proxy::CountersSnapshot::default();
        for proxy in self.proxies() {
            let c = proxy.counters().snapshot();
            total.connections += c.connections;
            total.produce_requests += c.produce_requests;
            total.delayed_responses += c.delayed_responses;
            total.dropped_connections += c.dropped_connections;
            total.refused_connections += c.refused_connections;
            total.produce_errors += c.produce_errors;
            total.refused_requests += c.refused_requests;
        }
        vec![
            ("lab_runs", "Lab runs finished since start", self.finished_runs()),
            ("fault_proxy_connections", "Connections relayed by the fault proxies", total.connections),
            ("fault_proxy_produce_requests", "Produce requests seen by the fault proxies", total.produce_requests),
            ("fault_proxy_delayed_responses", "Produce responses held by a fault", total.delayed_responses),
            ("fault_proxy_dropped_connections", "Connections cut after a Produce request", total.dropped_connections),
            (
                "fault_proxy_refused_connections",
                "Connections refused while the broker played absent",
                total.refused_connections,
            ),
            ("fault_proxy_produce_errors", "Produce requests answered by a proxy with an error", total.produce_errors),
            (
                "fault_proxy_refused_requests",
                "Connections closed on a request or answer a proxy would not pass",
                total.refused_requests,
            ),
        ]
    }
}
