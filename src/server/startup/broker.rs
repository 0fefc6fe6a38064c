//! Which broker the service talks to, the external cluster `KAFKA_BOOTSTRAP_SERVERS` names or
//! an embedded Tansu, and the fault proxies in front of it: one for lab runs, and one for the
//! global fault switch when `LAB_GLOBAL_FAULTS` lets faults reach every send (the service's
//! producers then connect through it). Neither when the cluster is reached over TLS.

use super::error::StartupError;
use crate::model::BrokerKind;
use crate::server::config::Config;
use crate::server::kafka::EmbeddedBroker;
use crate::server::lab::FaultProxy;
use crate::server::shutdown::Shutdown;
use std::sync::Arc;

pub struct BrokerSetup {
    pub kind: BrokerKind,
    /// The cluster itself.
    pub bootstrap: String,
    pub embedded: Option<Arc<EmbeddedBroker>>,
    /// In front of the cluster for lab runs only.
    pub lab_proxy: Option<Arc<FaultProxy>>,
    /// In front of the cluster for the service's own producers (the global fault switch).
    pub switch_proxy: Option<Arc<FaultProxy>>,
}

impl BrokerSetup {
    /// Where the service's two producers connect: through the switch proxy when there is one.
    pub fn producers_bootstrap(&self) -> String {
        self.switch_proxy.as_ref().map_or_else(|| self.bootstrap.clone(), |p| p.bootstrap())
    }
}

pub async fn connect(config: &Config, shutdown: &Shutdown) -> Result<BrokerSetup, StartupError> {
    let (kind, bootstrap, embedded) = match config.external_bootstrap() {
        Some(servers) => {
            tracing::info!(bootstrap = servers, "using the external Kafka cluster");
            (BrokerKind::External, servers.to_owned(), None)
        }
        None => {
            let broker = EmbeddedBroker::start(config.tansu_bin.as_deref(), None, shutdown).await?;
            (BrokerKind::Embedded, broker.bootstrap(), Some(Arc::new(broker)))
        }
    };
    let proxy = || FaultProxy::start(&bootstrap, shutdown).map(Arc::new).map_err(StartupError::FaultProxy);
    let (lab_proxy, switch_proxy) = if config.plaintext_cluster() {
        (Some(proxy()?), if config.global_faults() { Some(proxy()?) } else { None })
    } else {
        tracing::warn!("the cluster is reached over TLS: the lab's faults need a plaintext listener and are off");
        (None, None)
    };
    Ok(BrokerSetup { kind, bootstrap, embedded, lab_proxy, switch_proxy })
}
