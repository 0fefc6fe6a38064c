//! Knows whether the broker answers: probed in the background so that `/health/ready` and the
//! UI's badge answer at once, and so that an embedded broker's restart empties the topic cache.

use super::supervisor::BrokerLife;
use super::{ProducerPair, TopicRegistry};
use crate::model::{BrokerInfo, BrokerKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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
    task: tokio::task::JoinHandle<()>,
}

impl BrokerMonitor {
    pub fn spawn(
        kind: BrokerKind,
        bootstrap: String,
        topics: Arc<TopicRegistry>,
        producers: Arc<ProducerPair>,
        life: Option<watch::Receiver<BrokerLife>>,
    ) -> Self {
        let waiting = format!("Kafka at {bootstrap} has not answered yet");
        let (tx, readiness) = watch::channel(Readiness { ready: false, reason: Some(waiting) });
        let task = tokio::spawn(probe_loop(topics, producers, life, tx));
        Self { kind, bootstrap, readiness, task }
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
        topics: &TopicRegistry,
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
        }
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

async fn probe_loop(
    topics: Arc<TopicRegistry>,
    producers: Arc<ProducerPair>,
    mut life: Option<watch::Receiver<BrokerLife>>,
    tx: watch::Sender<Readiness>,
) {
    let mut generation = life.as_ref().map(|l| l.borrow().generation);
    let mut was_ever_ready = false;
    loop {
        let process_down = life.as_ref().and_then(|l| {
            let l = l.borrow();
            (!l.alive).then(|| l.reason.clone().unwrap_or_else(|| "the embedded broker is down".into()))
        });
        let current = life.as_ref().map(|l| l.borrow().generation);
        if current != generation {
            topics.forget(None);
            generation = current;
        }
        let next = match process_down {
            Some(reason) => Readiness { ready: false, reason: Some(reason) },
            None => match topics.probe().await {
                Ok(()) => Readiness { ready: true, reason: None },
                Err(e) => Readiness { ready: false, reason: Some(e.to_string()) },
            },
        };
        let was_ready = tx.borrow().ready;
        if next.ready && !was_ready {
            // Whatever came back may have lost its state (an in-memory broker always does):
            // topics are checked again, and the idempotent producer starts a new session.
            topics.forget(None);
            if was_ever_ready {
                producers.renew_after_outage().await;
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
        match life.as_mut() {
            Some(l) => {
                if let Ok(Err(_)) = tokio::time::timeout(pause, l.changed()).await {
                    tokio::time::sleep(pause).await;
                }
            }
            None => tokio::time::sleep(pause).await,
        }
    }
}
