//! The service over the in-memory Kafka stand-in, served on a real port-0 socket: for router and
//! contract tests that make no claim about Kafka (no broker; each test takes milliseconds).

use clap::Parser;
use producer_reliability::server::config::Config;
use producer_reliability::server::kafka::InMemoryKafka;
use producer_reliability::server::router::app;
use producer_reliability::server::shutdown::Shutdown;
use producer_reliability::server::state::AppState;
use producer_reliability::server::{http, startup};
use std::sync::Arc;
use std::time::Duration;

pub struct InMemoryService {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub kafka: Arc<InMemoryKafka>,
    tasks: Shutdown,
}

impl InMemoryService {
    pub async fn start(extra: &[&str]) -> Self {
        let args = std::iter::once("producer-reliability").chain(extra.iter().copied());
        let config = Config::try_parse_from(args).expect("test config");
        let options = leptos::config::get_configuration(None).expect("leptos options").leptos_options;
        let (state, kafka, tasks) = startup::in_memory(&config, options);
        let listener = http::listen("127.0.0.1:0".parse().expect("addr")).expect("listen");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let router = app(state.clone(), Duration::from_secs(10));
        tasks.spawn(http::serve(listener, router, tasks.token(), Duration::from_secs(1)));
        Self { base, client: reqwest::Client::new(), state, kafka, tasks }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    pub async fn stop(self) {
        self.tasks.stop_all(Duration::from_secs(5)).await;
    }
}
