//! Knows whether the broker answers: probed in the background so that `/health/ready` and the
//! UI's badge answer at once, and so that an embedded broker's restart empties the topic cache.

use super::port::{RecordProducer, TopicCatalog};
use super::supervisor::BrokerLife;
use crate::model::{BrokerInfo, BrokerKind};
use crate::server::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const PROBE_WHEN_READY: Duration = Duration::from_secs(5);
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
}

async fn probe_loop(
    kafka: KafkaParts,
    mut life: Option<watch::Receiver<BrokerLife>>,
    tx: watch::Sender<Readiness>,
    stop: CancellationToken,
) {
    let mut generation = life.as_ref().map(|l| l.borrow().generation);
    let mut was_ever_ready = false;
    loop {
        // An embedded broker that restarted came back empty: its topics are gone.
        let current = life.as_ref().map(|l| l.borrow().generation);
        if current != generation {
            kafka.topics.forget(None);
            generation = current;
        }
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = readiness(&kafka, life.as_ref()) => next,
        };
        if next.ready && !tx.borrow().ready {
            // Whatever came back may have lost its state (an in-memory broker always does):
            // topics are checked again, and the idempotent producer starts a new session.
            kafka.topics.forget(None);
            if was_ever_ready {
                kafka.producers.renew_after_outage().await;
                kafka.table.broker_back().await;
            }
            was_ever_ready = true;
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

/// Down with its reason while the embedded broker's process is down; else what a probe says.
async fn readiness(kafka: &KafkaParts, life: Option<&watch::Receiver<BrokerLife>>) -> Readiness {
    let process_down = life.and_then(|l| {
        let l = l.borrow();
        (!l.alive).then(|| l.reason.clone().unwrap_or_else(|| "the embedded broker is down".into()))
    });
    if let Some(reason) = process_down {
        return Readiness { ready: false, reason: Some(reason) };
    }
    match kafka.topics.probe().await {
        Ok(()) => Readiness { ready: true, reason: None },
        Err(e) => Readiness { ready: false, reason: Some(e.to_string()) },
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
