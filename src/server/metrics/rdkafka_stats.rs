//! librdkafka's statistics (every `statistics.interval.ms`), per producer, as Prometheus metrics.

use super::SendMetrics;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use rdkafka::Statistics;
use std::collections::BTreeMap;
use std::sync::Arc;

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
    /// Statistics reports received so far from this producer.
    pub reports: u64,
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
            reports: 0,
        }
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
pub(super) struct StatsCollector(pub(super) Arc<SendMetrics>);

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
