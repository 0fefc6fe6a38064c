//! Batches against raw librdkafka: async batches of 500 of the caller's own records at 16
//! connections (oha posting one JSON batch body), records/s next to raw rdkafka fire-and-forget
//! with the same `linger.ms` (0, the seed's, and 5), in interleaved rounds; then 1,000,000
//! records through batches and the service's memory during and after.

use super::ceilings::kafka_ceiling;
use super::load::{oha_post, Amount, LoadResult};
use super::report::Report;
use super::service::{reset_peak, rss_mb, settled_rss_mb, Service};
use super::{wait_until_delivered, Res};
use producer_reliability::model::ProducerMode;
use producer_reliability::server::config::Config;
use producer_reliability::server::kafka::KafkaSettings;
use serde::Serialize;

pub const RECORDS_PER_BATCH: usize = 500;
const CONNECTIONS: u32 = 16;
const LINGERS: [u32; 2] = [0, 5];
const MEMORY_RECORDS: u64 = 1_000_000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchRow {
    pub linger_ms: u32,
    pub records_per_sec: f64,
    pub raw_records_per_sec: f64,
    pub ratio_to_raw: f64,
    /// The median round of batch requests.
    pub requests: LoadResult,
}

/// One async batch of 500 records with small JSON values, as a file oha posts.
fn batch_body(topic: &str) -> Res<std::path::PathBuf> {
    let records: Vec<serde_json::Value> = (0..RECORDS_PER_BATCH)
        .map(|i| serde_json::json!({"eventId": format!("batch-{i:04}"), "value": {"n": i, "note": "bench"}}))
        .collect();
    let body = serde_json::json!({"mode": "idempotent", "sendMode": "async", "topic": topic, "records": records});
    let path = std::path::PathBuf::from(format!("target/bench/batch-{topic}.json"));
    std::fs::write(&path, serde_json::to_vec(&body)?)?;
    Ok(path)
}

/// The batch rows and the memory of a million records, into `report`.
pub async fn measure(report: &mut Report, bootstrap: &str, rounds: u32, seconds: u32, quick: bool) -> Res<()> {
    for linger in LINGERS {
        let linger_env = linger.to_string();
        let (service, _) = Service::start(Some(bootstrap), &[("KAFKA_LINGER_MS", &linger_env)])?;
        let topic = format!("bench-batches-{linger}-{}", std::process::id());
        let body = batch_body(&topic)?;
        let url = format!("http://{}/api/v1/batches", service.addr);
        oha_post(&url, &body, 2, Amount::Requests(20))?;
        wait_until_delivered(service.addr)?;
        let mut settings = KafkaSettings::new(&Config::defaults(), bootstrap.to_owned());
        settings.linger_ms = linger;
        let raw_topic = format!("bench-raw-linger-{linger}-{}", std::process::id());
        super::ceilings::create_topic(&settings, &raw_topic).await?;
        let mut batch_rounds = Vec::new();
        let mut raw_rounds = Vec::new();
        for round in 0..rounds {
            let result = oha_post(&url, &body, CONNECTIONS, Amount::Seconds(seconds))?;
            wait_until_delivered(service.addr)?;
            let raw = kafka_ceiling(&settings, ProducerMode::Idempotent, &raw_topic)?;
            eprintln!(
                "bench: round {} batches linger {linger}: {:.0} records/s (raw {raw:.0})",
                round + 1,
                result.requests_per_sec * RECORDS_PER_BATCH as f64
            );
            batch_rounds.push(result);
            raw_rounds.push(raw);
        }
        batch_rounds.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
        raw_rounds.sort_by(f64::total_cmp);
        let requests = batch_rounds[batch_rounds.len() / 2].clone();
        let records_per_sec = requests.requests_per_sec * RECORDS_PER_BATCH as f64;
        let raw_records_per_sec = raw_rounds[raw_rounds.len() / 2];
        report.batches.push(BatchRow {
            linger_ms: linger,
            records_per_sec,
            raw_records_per_sec,
            ratio_to_raw: records_per_sec / raw_records_per_sec.max(1.0),
            requests,
        });
        if linger == 0 {
            let records = if quick { MEMORY_RECORDS / 10 } else { MEMORY_RECORDS };
            reset_peak(service.pid());
            let sent = oha_post(&url, &body, CONNECTIONS, Amount::Requests(records / RECORDS_PER_BATCH as u64))?;
            report.memory_peak_during_million_batched_records_mb = rss_mb(service.pid(), "VmHWM");
            wait_until_delivered(service.addr)?;
            report.memory_after_million_batched_records_mb = settled_rss_mb(service.pid());
            report.million_batched_records_errors = sent.errors;
        }
        service.stop();
    }
    Ok(())
}
