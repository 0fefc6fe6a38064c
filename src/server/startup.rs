//! Start-up and shutdown, in order: broker, producers, routes; then on shutdown stop accepting,
//! flush, stop the broker. Tests use [`start`] with port 0 exactly as `main` does.

use super::access::AccessPolicy;
use super::config::Config;
use super::kafka::{BrokerMonitor, EmbeddedBroker, KafkaSettings, ProducerPair, TopicRegistry};
use super::lab::{FaultProxy, LabRunner};
use super::metrics::Metrics;
use super::rest;
use super::send::SendService;
use super::state::{AppParts, AppState};
use super::status_store::StatusStore;
use crate::error::AppError;
use crate::model::BrokerKind;
use axum::response::IntoResponse;
use axum::Router;
use leptos::config::LeptosOptions;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tower_http::catch_panic::CatchPanicLayer;

/// The whole HTTP surface: REST, server functions, pages and static files.
pub fn app(state: AppState, request_timeout: Duration) -> Router {
    Router::new()
        .merge(rest::routes(&state, request_timeout))
        .merge(super::pages::routes(&state))
        .method_not_allowed_fallback(rest::method_not_allowed)
        .layer(axum::middleware::from_fn(super::ui_api::server_fn_error_status))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            AppError::internal("the request handler panicked; see the service log").into_response()
        }))
        .with_state(state)
}

/// Connections the kernel may hold for us until the workers accept them. mio's default, 128,
/// overflows when a few hundred clients connect at once to a busy service, and each handshake
/// dropped then costs its client a one-second SYN retransmit. The kernel caps it at
/// `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

/// The HTTP listener, with [`LISTEN_BACKLOG`].
pub fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A running service: its address, its state, and the way to stop it.
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    embedded: Option<Arc<EmbeddedBroker>>,
    flush_timeout: Duration,
    stop_http: oneshot::Sender<()>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What shutdown left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Records still undelivered when the flush timeout passed.
    pub undelivered: i32,
}

/// Starts the broker (embedded unless `KAFKA_BOOTSTRAP_SERVERS` names one), the producers and
/// the HTTP server on `config.site_addr` (port 0 picks a free one).
pub async fn start(config: Config, mut leptos_options: LeptosOptions) -> Result<Server, String> {
    let store = Arc::new(StatusStore::new(
        usize::try_from(config.status_store_capacity).unwrap_or(usize::MAX),
        config.status_store_max_age(),
    ));
    let (kind, embedded, proxy, bootstrap) = match config.external_bootstrap() {
        Some(servers) => {
            tracing::info!(bootstrap = servers, "using the external Kafka cluster");
            (BrokerKind::External, None, None, servers.to_owned())
        }
        None => {
            // The broker advertises the fault proxy, so every client connection goes through it.
            let proxy = FaultProxy::bind().await.map_err(|e| format!("cannot bind the fault proxy: {e}"))?;
            let broker = EmbeddedBroker::start(config.tansu_bin.as_deref(), Some(proxy.addr())).await?;
            proxy.start(broker.listen_addr());
            let bootstrap = broker.bootstrap();
            (BrokerKind::Embedded, Some(Arc::new(broker)), Some(Arc::new(proxy)), bootstrap)
        }
    };
    let settings = Arc::new(KafkaSettings::new(&config, bootstrap.clone()));
    let kafka_error = |what: &str, e: rdkafka::error::KafkaError| format!("cannot create the {what}: {e}");
    let replication = match kind {
        BrokerKind::Embedded => 1,
        BrokerKind::External => config.kafka_topic_replication,
    };
    let topics = Arc::new(
        TopicRegistry::new(&settings, config.kafka_topic_partitions, replication)
            .map_err(|e| kafka_error("admin client", e))?,
    );
    let mut metrics = Metrics::new();
    let producers = Arc::new(
        ProducerPair::new(&settings, store.clone(), topics.clone(), metrics.sends.clone())
            .map_err(|e| kafka_error("producers", e))?,
    );
    producers.watch_fatal_errors();
    let monitor = Arc::new(BrokerMonitor::spawn(
        kind,
        bootstrap,
        topics.clone(),
        producers.clone(),
        embedded.as_ref().map(|b| b.life()),
    ));
    let access = Arc::new(AccessPolicy::new(&config));
    let lab = Arc::new(LabRunner::new(proxy, &settings, topics.clone(), access.clone()));
    metrics.add_source(store.clone());
    metrics.add_source(lab.clone());
    super::memory::spawn_memory_trimmer(&store);
    let send =
        SendService::new(producers, topics, store, access, &config.kafka_default_topic, config.delivery_timeout());

    leptos_options.site_addr = config.site_addr;
    let state = AppState::new(AppParts {
        leptos_options,
        send,
        broker: monitor,
        kafka: settings,
        lab,
        metrics: Arc::new(metrics),
    });
    let listener = listen(config.site_addr)
        .map_err(|e| format!("cannot listen on {} (LEPTOS_SITE_ADDR): {e}", config.site_addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if !addr.ip().is_loopback() {
        if config.api_token.is_some() {
            tracing::info!(%addr, "listening on a non-loopback address (API_TOKEN required)");
        } else {
            tracing::warn!(%addr, "listening on a non-loopback address without API_TOKEN: anyone who can reach it can produce");
        }
    }
    let (stop_http, stopped) = oneshot::channel::<()>();
    let router = app(state.clone(), config.delivery_timeout() + Duration::from_secs(10));
    let http = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Server { addr, state, embedded, flush_timeout: config.shutdown_flush_timeout(), stop_http, http })
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

    /// Stops accepting requests, lets those under way finish, flushes both producers within the
    /// flush timeout, reports what stayed undelivered, then stops the embedded broker.
    pub async fn shutdown(self) -> ShutdownReport {
        let _ = self.stop_http.send(());
        let mut http = self.http;
        if tokio::time::timeout(self.flush_timeout, &mut http).await.is_err() {
            tracing::warn!("requests still open after the flush timeout; closing them");
            http.abort();
        }
        let producers = self.state.send.producers().clone();
        let timeout = self.flush_timeout;
        let undelivered = tokio::task::spawn_blocking(move || producers.flush(timeout)).await.unwrap_or(-1);
        if undelivered == 0 {
            tracing::info!("all records delivered");
        } else {
            let pending = self.state.send.store().pending_ids();
            tracing::warn!(undelivered, "records still undelivered after the flush timeout");
            for request_id in pending {
                tracing::warn!(%request_id, "undelivered at shutdown");
            }
        }
        self.state.broker.stop();
        if let Some(broker) = &self.embedded {
            broker.stop().await;
        }
        ShutdownReport { undelivered }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While the workers are busy (here: nobody accepts), a burst of connections is held by the
    /// kernel instead of being made to retry a second later. With mio's default backlog (128),
    /// the connections after the 129th are not established.
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_backlog_while_nobody_accepts() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let connects =
            (0..300).map(|_| tokio::time::timeout(Duration::from_millis(800), tokio::net::TcpStream::connect(addr)));
        let established =
            futures::future::join_all(connects).await.into_iter().filter(|c| matches!(c, Ok(Ok(_)))).count();
        // The kernel caps the backlog at net.core.somaxconn (4096 by default since Linux 5.4).
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        assert_eq!(established, 300.min(somaxconn + 1), "connections established before any accept");
    }
}
