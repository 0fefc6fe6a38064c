//! Which broker the service talks to: the external cluster `KAFKA_BOOTSTRAP_SERVERS` names, or
//! an embedded Tansu with the fault proxy in front of it (the broker advertises the proxy, so
//! every client connection goes through it).

use super::error::StartupError;
use crate::model::BrokerKind;
use crate::server::config::Config;
use crate::server::kafka::EmbeddedBroker;
use crate::server::lab::FaultProxy;
use crate::server::shutdown::Shutdown;
use std::sync::Arc;

pub struct BrokerSetup {
    pub kind: BrokerKind,
    pub bootstrap: String,
    pub embedded: Option<Arc<EmbeddedBroker>>,
    pub proxy: Option<Arc<FaultProxy>>,
}

pub async fn connect(config: &Config, shutdown: &Shutdown) -> Result<BrokerSetup, StartupError> {
    if let Some(servers) = config.external_bootstrap() {
        tracing::info!(bootstrap = servers, "using the external Kafka cluster");
        return Ok(BrokerSetup {
            kind: BrokerKind::External,
            bootstrap: servers.to_owned(),
            embedded: None,
            proxy: None,
        });
    }
    let proxy = FaultProxy::bind().await.map_err(StartupError::FaultProxy)?;
    let broker = EmbeddedBroker::start(config.tansu_bin.as_deref(), Some(proxy.addr()), shutdown).await?;
    proxy.start(broker.listen_addr(), shutdown);
    Ok(BrokerSetup {
        kind: BrokerKind::Embedded,
        bootstrap: broker.bootstrap(),
        embedded: Some(Arc::new(broker)),
        proxy: Some(Arc::new(proxy)),
    })
}
