//! Start-up and shutdown, in order: broker, producers, the cores, routes; then on shutdown stop
//! accepting, end lab runs, flush, stop every task and the broker. Tests use [`start`] with
//! port 0 exactly as `main` does, or [`in_memory`] for a service with no broker at all.

mod broker;
mod error;

pub use error::StartupError;

use crate::model::BrokerKind;
use crate::server::access::AccessPolicy;
use crate::server::batch::BatchService;
use crate::server::config::Config;
use crate::server::http;
use crate::server::idempotency::{IdempotencyGate, KeyLog, LocalKeyLog};
use crate::server::kafka::{
    BrokerMonitor, DeliveryReports, EmbeddedBroker, InMemoryKafka, KafkaParts, KafkaSettings, ProducerPair,
    TopicRegistry,
};
use crate::server::lab::{FaultSwitch, LabService, LocalRunBoard, RunBoard, RunContext};
use crate::server::metrics::Metrics;
use crate::server::router::app;
use crate::server::send::{KafkaPorts, SendService};
use crate::server::shared_state::{FollowerRoute, SharedStatusTable, StateSettings};
use crate::server::shutdown::Shutdown;
use crate::server::state::{AppParts, AppState};
use crate::server::status_store::StatusStore;
use crate::server::status_table::{LocalStatusTable, StatusTable};
use leptos::config::LeptosOptions;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for the service's own tasks once they were told to stop.
const TASKS_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running service: its address, its state, and the way to stop it.
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    embedded: Option<Arc<EmbeddedBroker>>,
    producers: Option<Arc<ProducerPair>>,
    shared: Option<Arc<SharedStatusTable>>,
    flush_timeout: Duration,
    tasks: Shutdown,
    stop_http: CancellationToken,
    http: tokio::task::JoinHandle<()>,
}

/// What shutdown left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Records still undelivered when the flush timeout passed.
    pub undelivered: i32,
}

/// What the cores are built from, whichever Kafka is behind them.
struct Parts {
    kafka: KafkaPorts,
    table: Arc<dyn StatusTable>,
    keys: Arc<dyn KeyLog>,
    /// Where the lab's runs meet every replica's.
    board: Arc<dyn RunBoard>,
    store: Arc<StatusStore>,
    metrics: Metrics,
    settings: Arc<KafkaSettings>,
    broker: Arc<BrokerMonitor>,
    access: Arc<AccessPolicy>,
    lab: Option<RunContext>,
    switch: FaultSwitch,
}

/// Starts the broker (embedded unless `KAFKA_BOOTSTRAP_SERVERS` names one), the producers, the
/// shared status table and the HTTP server on `config.site_addr` (port 0 picks a free one).
pub async fn start(config: Config, mut leptos_options: LeptosOptions) -> Result<Server, StartupError> {
    let tasks = Shutdown::new();
    let broker = broker::connect(&config, &tasks).await?;
    let (parts, pair, shared) = kafka_parts(&config, &broker, &tasks)?;
    leptos_options.site_addr = config.site_addr;
    let state = assemble(&config, leptos_options, parts, &tasks);
    let mut server = serve(&config, state, broker.embedded, tasks)?;
    server.producers = Some(pair);
    server.shared = shared;
    Ok(server)
}

/// The cores' parts, the producers, and the shared status table (see [`Tables`]).
type KafkaSide = (Parts, Arc<ProducerPair>, Option<Arc<SharedStatusTable>>);

/// The Kafka side: topics, the shared status table, the producers and their monitor, the lab.
fn kafka_parts(config: &Config, broker: &broker::BrokerSetup, tasks: &Shutdown) -> Result<KafkaSide, StartupError> {
    let settings = Arc::new(KafkaSettings::new(config, broker.bootstrap.clone()));
    let replication = if broker.kind == BrokerKind::Embedded { 1 } else { config.kafka_topic_replication };
    let kafka_error = |what| move |source| StartupError::Kafka { what, source };
    let topics = Arc::new(
        TopicRegistry::new(&settings, config.kafka_topic_partitions, replication)
            .map_err(kafka_error("admin client"))?,
    );
    let (store, mut metrics) = store_and_metrics(config);
    let (table, keys, board, shared) = status_table(config, broker, &settings, &topics, &store, &mut metrics, tasks)?;
    let reports = Arc::new(DeliveryReports::new(table.clone(), metrics.sends.clone()));
    let producer_settings = KafkaSettings::new(config, broker.producers_bootstrap());
    let producers =
        Arc::new(ProducerPair::new(&producer_settings, reports, topics.clone()).map_err(kafka_error("producers"))?);
    producers.recover(tasks);
    let life = broker.embedded.as_ref().map(|b| b.life());
    let watched = KafkaParts {
        topics: topics.clone(),
        producers: producers.clone(),
        table: table.clone(),
        metrics: metrics.sends.clone(),
    };
    let monitor = Arc::new(BrokerMonitor::spawn(broker.kind, broker.bootstrap.clone(), watched, life, tasks));
    let access = Arc::new(AccessPolicy::new(config));
    let lab = RunContext {
        proxy: broker.lab_proxy.clone(),
        cluster: broker.bootstrap.clone(),
        settings: (*settings).clone(),
        topics: topics.clone(),
        access: access.clone(),
    };
    let switch = match (&broker.switch_proxy, config.plaintext_cluster()) {
        (Some(proxy), _) => FaultSwitch::On(proxy.clone()),
        (None, true) => FaultSwitch::Disabled,
        (None, false) => FaultSwitch::NoProxy,
    };
    let kafka = KafkaPorts { producers: producers.clone(), topics };
    let parts =
        Parts { kafka, table, keys, board, store, metrics, settings, broker: monitor, access, lab: Some(lab), switch };
    Ok((parts, producers, shared))
}

/// The status table and, with it, the same table as the shared one it is (`None` only in
/// `make bench`'s baseline binary, built with `bench-local-table`: statuses in this process's
/// memory as before they were kept in Kafka, to measure what the shared table costs).
type Tables = (Arc<dyn StatusTable>, Arc<dyn KeyLog>, Arc<dyn RunBoard>, Option<Arc<SharedStatusTable>>);

/// The status table every replica shares through the state topic.
fn status_table(
    config: &Config,
    broker: &broker::BrokerSetup,
    settings: &KafkaSettings,
    topics: &Arc<TopicRegistry>,
    store: &Arc<StatusStore>,
    metrics: &mut Metrics,
    tasks: &Shutdown,
) -> Result<Tables, StartupError> {
    if cfg!(feature = "bench-local-table") {
        return Ok((Arc::new(LocalStatusTable::new(store.clone())), local_keys(config), Arc::new(LocalRunBoard), None));
    }
    let follower = FollowerRoute {
        kafka: KafkaSettings::new(config, broker.follower_bootstrap()),
        proxy: broker.follower_proxy.clone(),
    };
    let shared =
        SharedStatusTable::start(settings, follower, topics.clone(), store.clone(), state_settings(config), tasks)
            .map_err(|source| StartupError::Kafka { what: "state topic writer", source })?;
    metrics.add_source(shared.clone());
    metrics.add_histogram(
        "state_view_lag_seconds",
        "How long after it was written each state record was applied to the view",
        shared.lag_histogram(),
    );
    Ok((shared.clone(), Arc::new(shared.key_log()), Arc::new(shared.run_board()), Some(shared)))
}

/// Idempotency keys in this process's memory (no claim about Kafka).
fn local_keys(config: &Config) -> Arc<dyn KeyLog> {
    let capacity = usize::try_from(config.status_store_capacity).unwrap_or(usize::MAX);
    Arc::new(LocalKeyLog::new(config.idempotency_key_ttl(), capacity))
}

/// The state topic's settings, from the configuration.
fn state_settings(config: &Config) -> StateSettings {
    StateSettings {
        topic: config.state_topic.clone(),
        partitions: config.state_topic_partitions,
        replica: config.replica(),
        lease: Duration::from_millis(config.replica_lease_ms),
        catch_up: Duration::from_millis(config.state_catch_up_ms),
        linger_ms: config.state_linger_ms,
        fetch_wait_ms: config.state_fetch_wait_ms,
        write_timeout: Duration::from_millis(config.state_write_timeout_ms),
        max_block: Duration::from_millis(config.kafka_max_block_ms.into()),
        max_age: config.status_store_max_age(),
        key_ttl: config.idempotency_key_ttl(),
        key_capacity: usize::try_from(config.status_store_capacity).unwrap_or(usize::MAX),
    }
}

/// The bounded status store (every replica's statuses, as this one sees them) and the metrics.
fn store_and_metrics(config: &Config) -> (Arc<StatusStore>, Metrics) {
    let capacity = usize::try_from(config.status_store_capacity).unwrap_or(usize::MAX);
    (Arc::new(StatusStore::new(capacity, config.status_store_max_age())), Metrics::new())
}

/// The cores (send, lab) over their Kafka parts, and the state both doors reach.
fn assemble(config: &Config, leptos_options: LeptosOptions, parts: Parts, tasks: &Shutdown) -> AppState {
    let Parts { kafka, table, keys, board, store, mut metrics, settings, broker, access, lab, switch } = parts;
    let lab = Arc::new(LabService::new(lab, switch, board, tasks));
    metrics.add_source(store.clone());
    metrics.add_source(lab.clone());
    let sends = metrics.sends.clone();
    let send =
        SendService::new(kafka, table, access.clone(), sends, &config.kafka_default_topic, config.delivery_timeout())
            .with_max_value_bytes(settings.max_value_bytes());
    let gate = IdempotencyGate::new(send.clone(), keys, config.require_idempotency_key, config.delivery_timeout());
    let batches = BatchService::new(send.clone(), usize::try_from(config.batch_max_records).unwrap_or(usize::MAX));
    AppState::new(AppParts {
        leptos_options,
        send,
        gate,
        batches,
        batch_max_bytes: usize::try_from(config.batch_max_bytes).unwrap_or(usize::MAX),
        broker,
        kafka: settings,
        lab,
        metrics: Arc::new(metrics),
        access,
    })
}

fn serve(
    config: &Config,
    state: AppState,
    embedded: Option<Arc<EmbeddedBroker>>,
    tasks: Shutdown,
) -> Result<Server, StartupError> {
    let addr = config.site_addr;
    let listener = http::listen(addr).map_err(|source| StartupError::Listen { addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartupError::Listen { addr, source })?;
    if !addr.ip().is_loopback() {
        if config.api_token.is_some() {
            tracing::info!(%addr, "listening on a non-loopback address (API_TOKEN required)");
        } else {
            tracing::warn!(%addr, "listening on a non-loopback address without API_TOKEN: anyone who can reach it can produce");
        }
    }
    let stop_http = tasks.token().child_token();
    let router = app(state.clone(), config.delivery_timeout() + Duration::from_secs(10));
    let flush_timeout = config.shutdown_flush_timeout();
    let http = tasks.spawn(http::serve(listener, router, stop_http.clone(), flush_timeout));
    Ok(Server { addr, state, embedded, producers: None, shared: None, flush_timeout, tasks, stop_http, http })
}

/// A service over [`InMemoryKafka`] (no broker, no HTTP listener): for router and contract
/// tests that make no claim about Kafka. Lab runs answer 503 there.
pub fn in_memory(config: &Config, leptos_options: LeptosOptions) -> (AppState, Arc<InMemoryKafka>, Shutdown) {
    let tasks = Shutdown::new();
    let (store, metrics) = store_and_metrics(config);
    let table: Arc<dyn StatusTable> = Arc::new(LocalStatusTable::new(store.clone()));
    let reports = Arc::new(DeliveryReports::new(table.clone(), metrics.sends.clone()));
    let kafka = Arc::new(InMemoryKafka::new(reports, config.kafka_topic_partitions));
    let settings = Arc::new(KafkaSettings::new(config, "in-memory".into()));
    let kafka_parts = KafkaParts {
        topics: kafka.clone(),
        producers: kafka.clone(),
        table: table.clone(),
        metrics: metrics.sends.clone(),
    };
    let broker = Arc::new(BrokerMonitor::spawn(BrokerKind::External, "in-memory".into(), kafka_parts, None, &tasks));
    let parts = Parts {
        kafka: KafkaPorts { producers: kafka.clone(), topics: kafka.clone() },
        table,
        keys: local_keys(config),
        board: Arc::new(LocalRunBoard),
        store,
        metrics,
        settings,
        broker,
        access: Arc::new(AccessPolicy::new(config)),
        lab: None,
        switch: FaultSwitch::Disabled,
    };
    (assemble(config, leptos_options, parts, &tasks), kafka, tasks)
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn embedded_broker(&self) -> Option<&EmbeddedBroker> {
        self.embedded.as_deref()
    }

    /// The status table shared through the state topic (for tests of the view).
    pub fn shared_table(&self) -> Option<&Arc<SharedStatusTable>> {
        self.shared.as_ref()
    }

    /// The rdkafka producers behind the send core (for tests of their recovery).
    pub fn producer_pair(&self) -> Option<&Arc<ProducerPair>> {
        self.producers.as_ref()
    }

    /// Stops accepting requests and lets those under way finish, ends lab runs, flushes both
    /// producers within the flush timeout and reports what stayed undelivered, then stops every
    /// task (the embedded broker last).
    pub async fn shutdown(self) -> ShutdownReport {
        self.stop_http.cancel();
        let _ = self.http.await;
        self.state.lab.stop_runs();
        let producers = self.state.send.producers().clone();
        let timeout = self.flush_timeout;
        let undelivered = tokio::task::spawn_blocking(move || producers.flush(timeout)).await.unwrap_or(-1);
        if undelivered == 0 {
            tracing::info!("all records delivered");
        } else {
            tracing::warn!(undelivered, "records still undelivered after the flush timeout");
            for request_id in self.state.send.table().own_pending_ids() {
                tracing::warn!(%request_id, "undelivered at shutdown");
            }
        }
        // Then the statuses they ended with, and this replica's goodbye, reach the state topic.
        if let Some(shared) = self.shared.clone() {
            let timeout = self.flush_timeout;
            let left = tokio::task::spawn_blocking(move || shared.finish(timeout)).await.unwrap_or(-1);
            if left != 0 {
                tracing::warn!(left, "state records not acknowledged at shutdown");
            }
        }
        self.tasks.stop_all(TASKS_STOP_TIMEOUT).await;
        ShutdownReport { undelivered }
    }
}
