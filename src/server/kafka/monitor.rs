//! Knows whether the broker answers: probed in the background so that `/health/ready` and the
//! UI's badge answer at once, and so that an embedded broker's restart empties the topic cache.
//! Each probe also lists the topics: a known topic gone is forgotten (created again on its next
//! use), and when every known topic is gone, or the state table's topic (once made) is, the
//! broker lost its state (restarted empty, a wiped volume) even if no probe saw it down: the
//! idempotent producer and the state table start afresh.

use super::port::{RecordProducer, TopicCatalog};
use super::supervisor::BrokerLife;
use crate::model::{BrokerInfo, BrokerKind};
use crate::server::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const PROBE_WHEN_READY: Duration = Duration::from_secs(2);
const PROBE_WHEN_DOWN: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// Why the broker is not ready, when it is not.
    pub reason: Option<String>,
}

pub struct BrokerMonitor {
    kind: BrokerKind,
    bootstrap: String,
    readiness: watch::Receiver<Readiness>,
}

impl BrokerMonitor {
    /// Probes until shutdown.
    pub fn spawn(
        kind: BrokerKind,
        bootstrap: String,
        kafka: KafkaParts,
        life: Option<watch::Receiver<BrokerLife>>,
        shutdown: &Shutdown,
    ) -> Self {
        let waiting = format!("Kafka at {bootstrap} has not answered yet");
        let (tx, readiness) = watch::channel(Readiness { ready: false, reason: Some(waiting) });
        shutdown.spawn(probe_loop(kafka, life, tx, shutdown.token()));
        Self { kind, bootstrap, readiness }
    }

    pub fn kind(&self) -> BrokerKind {
        self.kind
    }

    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    pub fn readiness(&self) -> Readiness {
        self.readiness.borrow().clone()
    }

    /// Waits until the broker is ready, or `timeout` passes; returns the readiness then.
    pub async fn wait_ready(&self, timeout: Duration) -> Readiness {
        let mut rx = self.readiness.clone();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|r| r.ready)).await;
        self.readiness()
    }

    pub async fn info(
        &self,
        topics: &dyn TopicCatalog,
        default_topic: &str,
        last_producer_error: Option<String>,
    ) -> BrokerInfo {
        let readiness = self.readiness();
        let listed = if readiness.ready { topics.list().await.ok() } else { None };
        BrokerInfo {
            kind: self.kind,
            bootstrap_servers: self.bootstrap.clone(),
            ready: readiness.ready,
            reason: readiness.reason,
            topics: listed.unwrap_or_default(),
            default_topic: default_topic.to_owned(),
            last_producer_error,
            replica: String::new(),
            replicas: Vec::new(),
        }
    }
}

/// What the probe watches and renews.
pub struct KafkaParts {
    pub topics: Arc<dyn TopicCatalog>,
    pub producers: Arc<dyn RecordProducer>,
    pub table: Arc<dyn crate::server::status_table::StatusTable>,
    pub metrics: Arc<crate::server::metrics::SendMetrics>,
}

async fn probe_loop(
    kafka: KafkaParts,
    mut life: Option<watch::Receiver<BrokerLife>>,
    tx: watch::Sender<Readiness>,
    stop: CancellationToken,
) {
    let mut generation = life.as_ref().map(|l| l.borrow().generation);
    let mut was_ever_ready = false;
    // The embedded broker restarted since the last fresh start: it came back empty, even if no
    // probe saw it down (a restart can fit between two probes).
    let mut restarted_empty = false;
    let mut table_topic = TableTopicWatch::default();
    loop {
        let current = life.as_ref().map(|l| l.borrow().generation);
        if current != generation {
            kafka.topics.forget(None);
            restarted_empty = true;
            generation = current;
        }
        // Asked before the listing: a topic made while the probe lists may be missing from it.
        let table_made = kafka.table.topic().map(str::to_owned);
        let (next, listed) = tokio::select! {
            _ = stop.cancelled() => return,
            next = readiness(&kafka, life.as_ref()) => next,
        };
        if next.ready && (!tx.borrow().ready || restarted_empty) {
            // Whatever came back may have lost its state (an in-memory broker always does):
            // topics are checked again, and the idempotent producer starts a new session.
            kafka.topics.forget(None);
            if was_ever_ready {
                let cause = if restarted_empty {
                    "the embedded broker restarted without its data"
                } else {
                    "the broker came back after an outage and may have lost its state"
                };
                start_afresh(&kafka, cause, restarted_empty).await;
            }
            was_ever_ready = true;
            restarted_empty = false;
            if let Some(listed) = listed.as_deref() {
                table_topic.lost(table_made.as_deref(), listed);
            }
        } else if let Some(listed) = listed {
            let table_lost = table_topic.lost(table_made.as_deref(), &listed);
            notice_vanished_topics(&kafka, &listed, table_lost.then_some(table_made).flatten()).await;
        }
        if *tx.borrow() != next {
            match &next.reason {
                None => tracing::info!("Kafka broker ready"),
                Some(reason) => tracing::warn!(%reason, "Kafka broker not ready"),
            }
        }
        let pause = if next.ready { PROBE_WHEN_READY } else { PROBE_WHEN_DOWN };
        tx.send_replace(next);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
            _ = life_changed(life.as_mut()) => {}
        }
    }
}

/// The idempotent producer's session and the state table depend on the broker's state.
async fn start_afresh(kafka: &KafkaParts, cause: &str, state_lost: bool) {
    kafka.producers.renew_after_outage(cause, state_lost).await;
    kafka.table.broker_back().await;
}

/// Watches the state table's topic by name, not through the registry of known topics: the
/// registry forgets everything when the broker first answers, which may come after the table
/// made its topic, and the table does not ask for it again (found in CI: the broker restarted
/// empty, a caller's send made its own topic again before the next probe, so not every known
/// topic was gone, and the state writer was never renewed).
#[derive(Default)]
struct TableTopicWatch {
    /// Its absence was already acted on: not again until the topic is listed once more (a
    /// table that cannot make it again is not renewed at every probe).
    noticed_gone: bool,
}

impl TableTopicWatch {
    /// True when the table had made its topic before this listing, the listing lacks it, and
    /// that is news.
    fn lost(&mut self, table_made: Option<&str>, listed: &[String]) -> bool {
        let Some(topic) = table_made else { return false };
        if listed.iter().any(|l| l == topic) {
            self.noticed_gone = false;
            return false;
        }
        !std::mem::replace(&mut self.noticed_gone, true)
    }
}

/// Forgets the known topics the probe did not list; starts afresh if every one is gone, or if
/// the state table's topic is (`table_lost`).
async fn notice_vanished_topics(kafka: &KafkaParts, listed: &[String], table_lost: Option<String>) {
    let vanished = kafka.topics.vanished(listed);
    let mut gone = vanished.topics;
    if let Some(table) = table_lost.as_ref().filter(|t| !gone.contains(t)) {
        gone.push(table.clone());
    }
    if gone.is_empty() {
        return;
    }
    kafka.metrics.topics_vanished(gone.len());
    let names = gone.join(", ");
    if vanished.all || table_lost.is_some() {
        tracing::warn!(topics = %names, "the broker lost its state: the topics the service made are gone");
        start_afresh(kafka, &format!("the broker lost its state (topics gone: {names})"), true).await;
    } else {
        tracing::warn!(topics = %names, "topics gone from the cluster: they are created again on their next use");
    }
}

/// Down with its reason while the embedded broker's process is down; else what a probe says,
/// with the topics it listed.
async fn readiness(kafka: &KafkaParts, life: Option<&watch::Receiver<BrokerLife>>) -> (Readiness, Option<Vec<String>>) {
    let process_down = life.and_then(|l| {
        let l = l.borrow();
        (!l.alive).then(|| l.reason.clone().unwrap_or_else(|| "the embedded broker is down".into()))
    });
    if let Some(reason) = process_down {
        return (Readiness { ready: false, reason: Some(reason) }, None);
    }
    match kafka.topics.probe().await {
        Ok(listed) => (Readiness { ready: true, reason: None }, Some(listed)),
        Err(e) => (Readiness { ready: false, reason: Some(e.to_string()) }, None),
    }
}

/// Resolves when the embedded broker's life changes; never without one.
async fn life_changed(life: Option<&mut watch::Receiver<BrokerLife>>) {
    let changed = match life {
        Some(l) => l.changed().await.is_ok(),
        None => false,
    };
    if !changed {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::kafka::in_memory::InMemoryKafka;
    use crate::server::kafka::reports::DeliveryReports;
    use crate::server::metrics::Metrics;
    use crate::server::status_store::StatusStore;
    use crate::server::status_table::LocalStatusTable;

    /// A restart that fits between two probes (the probe never sees the broker down) still
    /// starts the producers afresh: the broker came back empty.
    #[tokio::test]
    async fn an_embedded_broker_restarted_between_two_probes_starts_the_producers_afresh() {
        let store = Arc::new(StatusStore::new(100, Duration::from_secs(60)));
        let table: Arc<dyn crate::server::status_table::StatusTable> = Arc::new(LocalStatusTable::new(store));
        let metrics = Metrics::new();
        let kafka =
            Arc::new(InMemoryKafka::new(Arc::new(DeliveryReports::new(table.clone(), metrics.sends.clone())), 1));
        let parts =
            KafkaParts { topics: kafka.clone(), producers: kafka.clone(), table, metrics: metrics.sends.clone() };
        let (life, watched) = watch::channel(BrokerLife { generation: 1, alive: true, reason: None });
        let shutdown = Shutdown::new();
        let monitor =
            BrokerMonitor::spawn(BrokerKind::Embedded, "127.0.0.1:9092".into(), parts, Some(watched), &shutdown);
        assert!(monitor.wait_ready(Duration::from_secs(5)).await.ready);
        assert_eq!(kafka.renewals(), 0, "nothing to renew at the first start");

        // Down and up again before the probe looks: it only sees the new generation.
        life.send_replace(BrokerLife { generation: 2, alive: true, reason: None });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while kafka.renewals() == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(kafka.renewals(), 1, "the producers started afresh once");
        assert!(shutdown.stop_all(Duration::from_secs(5)).await, "the probe stops");
    }

    /// The state table's topic gone while the broker answered every probe, and while the other
    /// topics are there (a caller's send made its topic again on the emptied broker): the
    /// broker lost its state, whatever the registry of known topics remembers (nothing, here).
    #[tokio::test]
    async fn the_state_topic_gone_between_two_probes_starts_the_table_and_producers_afresh() {
        let store = Arc::new(StatusStore::new(100, Duration::from_secs(60)));
        let table = Arc::new(crate::server::status_table::CountingTable::new(store));
        let metrics = Metrics::new();
        let kafka =
            Arc::new(InMemoryKafka::new(Arc::new(DeliveryReports::new(table.clone(), metrics.sends.clone())), 1));
        for topic in ["state", "events"] {
            assert!(kafka.partitions(topic).await.is_ok());
        }
        let parts = KafkaParts {
            topics: kafka.clone(),
            producers: kafka.clone(),
            table: table.clone(),
            metrics: metrics.sends.clone(),
        };
        let shutdown = Shutdown::new();
        let monitor = BrokerMonitor::spawn(BrokerKind::External, "127.0.0.1:9092".into(), parts, None, &shutdown);
        assert!(monitor.wait_ready(Duration::from_secs(5)).await.ready);

        kafka.drop_topic("state");
        let deadline = tokio::time::Instant::now() + PROBE_WHEN_READY * 3;
        while kafka.renewals() == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(kafka.renewals(), 1, "the idempotent producer started afresh");
        assert_eq!(table.backs.load(std::sync::atomic::Ordering::Relaxed), 1, "the table made its topic again");
        assert!(shutdown.stop_all(Duration::from_secs(5)).await, "the probe stops");
    }
}
