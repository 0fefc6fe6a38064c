//! Which broker the service talks to, the external cluster `KAFKA_BOOTSTRAP_SERVERS` names or
//! an embedded Tansu, and the fault proxies in front of it: one for lab runs, and one for the
//! global fault switch when `LAB_GLOBAL_FAULTS` lets faults reach every send (the service's
//! producers then connect through it), and one that never faults for the state topic's
//! follower (see [`BrokerSetup::follower_bootstrap`]). None when the cluster is reached over TLS.

use super::error::StartupError;
use crate::model::BrokerKind;
use crate::server::config::Config;
use crate::server::fault_proxy::FaultProxy;
use crate::server::kafka::EmbeddedBroker;
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
    /// In front of the cluster for the state topic's follower, never faulted.
    pub follower_proxy: Option<Arc<FaultProxy>>,
}

impl BrokerSetup {
    /// Where the service's two producers connect: through the switch proxy when there is one.
    pub fn producers_bootstrap(&self) -> String {
        self.switch_proxy.as_ref().map_or_else(|| self.bootstrap.clone(), |p| p.bootstrap())
    }

    /// Where the state topic's follower connects: through a proxy of its own when the cluster
    /// is plaintext. The proxy caps Fetch at v11, before the tagged fields whose KIP-951 leader
    /// tags librdkafka 2.12 turns into a metadata update that crashes the process (a NULL topic
    /// name in `rd_kafka_metadata_update_op`) when a broker answers a fetch of a topic it no
    /// longer has with a leader and no topic id, as Tansu does after losing its state.
    pub fn follower_bootstrap(&self) -> String {
        self.follower_proxy.as_ref().map_or_else(|| self.bootstrap.clone(), |p| p.bootstrap())
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
    let (lab_proxy, switch_proxy, follower_proxy) = if config.plaintext_cluster() {
        (Some(proxy()?), if config.global_faults() { Some(proxy()?) } else { None }, Some(proxy()?))
    } else {
        tracing::warn!("the cluster is reached over TLS: the lab's faults need a plaintext listener and are off");
        (None, None, None)
    };
    Ok(BrokerSetup { kind, bootstrap, embedded, lab_proxy, switch_proxy, follower_proxy })
}
