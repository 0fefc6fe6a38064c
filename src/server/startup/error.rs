//! Why the service could not start, with the cause kept as its source.

use crate::server::kafka::BrokerError;
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot bind the fault proxy")]
    FaultProxy(#[source] std::io::Error),
    #[error("cannot start the embedded broker")]
    EmbeddedBroker(#[from] BrokerError),
    #[error("cannot create the {what}")]
    Kafka {
        what: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot listen on {addr} (LEPTOS_SITE_ADDR)")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl StartupError {
    /// The message with every cause, for the one log line that explains a failed start.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}
