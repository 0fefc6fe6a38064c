//! A Kafka-aware TCP fault proxy that fronts any Kafka cluster. Clients are given only
//! [`FaultProxy::bootstrap`]; every broker address the cluster tells them (Metadata,
//! FindCoordinator, DescribeCluster) is rewritten to a proxy listener of that node, so after
//! bootstrap they only ever connect to the proxy, which applies one [`ActiveFault`] at a time
//! to every connection. Plaintext (and SASL over plaintext) only: rewriting needs to read the
//! frames, so a cluster reached over TLS gets no proxy (docs/lab.md says what TLS would need).

mod fault;
pub mod inflight;
mod listeners;
mod relay;
pub mod rewrite;

pub use fault::{ActiveFault, CountersSnapshot, ProxyCounters};
pub use relay::MAX_FRAME_BYTES;

use crate::server::shutdown::Shutdown;
use listeners::{accept_loop, bind_loopback, Shared, Upstream};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// One listener of the proxy: the bootstrap one (`node_id: None`) or a node's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerInfo {
    pub node_id: Option<i32>,
    pub proxy_addr: SocketAddr,
    /// Where its connections go: the bootstrap list, or the node's advertised `host:port`.
    pub upstream: String,
}

/// The proxy. Share it behind an `Arc`. It stops at the service's shutdown, or when this
/// handle is dropped.
pub struct FaultProxy {
    shared: Arc<Shared>,
}

/// Splits "host:port,host:port" (an optional `scheme://` prefix per entry is ignored).
fn parse_bootstrap(bootstrap: &str) -> io::Result<Vec<String>> {
    let servers: Vec<String> = bootstrap
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.rsplit_once("://").map_or(s, |(_, rest)| rest).to_owned())
        .collect();
    if servers.is_empty() || servers.iter().any(|s| !s.contains(':')) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad bootstrap list {bootstrap:?}")));
    }
    Ok(servers)
}

impl FaultProxy {
    /// Binds the bootstrap listener on 127.0.0.1:0 and starts relaying. Must be called inside
    /// a tokio runtime. Node listeners are bound as the cluster's nodes appear.
    pub fn start(bootstrap: &str, shutdown: &Shutdown) -> io::Result<FaultProxy> {
        let servers = parse_bootstrap(bootstrap)?;
        let listener = bind_loopback()?;
        let bootstrap_addr = listener.local_addr()?;
        let (cut, _) = watch::channel(0);
        let (release, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            fault: Mutex::new(ActiveFault::None),
            counters: ProxyCounters::default(),
            cut,
            release,
            // A child: the service's shutdown stops the proxy (last, with the broker: the
            // service's producers talk through it until then), dropping the handle stops only it.
            token: shutdown.last_token().child_token(),
            tasks: shutdown.clone(),
            bootstrap: servers,
            bootstrap_addr,
            nodes: Mutex::new(BTreeMap::new()),
        });
        tracing::info!(proxy = %bootstrap_addr, upstream = bootstrap, "fault proxy started");
        shared.tasks.spawn_last(accept_loop(listener, Upstream::Bootstrap, shared.clone()));
        Ok(FaultProxy { shared })
    }

    /// The address clients bootstrap from (`127.0.0.1:port`).
    pub fn bootstrap(&self) -> String {
        self.shared.bootstrap_addr.to_string()
    }

    /// The bootstrap listener, then one per node seen so far, by node id.
    pub fn listeners(&self) -> Vec<ListenerInfo> {
        let mut out = vec![ListenerInfo {
            node_id: None,
            proxy_addr: self.shared.bootstrap_addr,
            upstream: self.shared.bootstrap.join(","),
        }];
        out.extend(self.shared.nodes.lock().values().map(|n| ListenerInfo {
            node_id: Some(n.node_id),
            proxy_addr: n.addr,
            upstream: n.upstream.lock().clone(),
        }));
        out
    }

    /// Switches a fault on for every connection; BrokerUnavailable closes the open ones, and
    /// switching the fault off lets go of the responses still held.
    pub fn set_fault(&self, fault: ActiveFault) {
        let cut = relay::cuts_connections(&fault);
        let off = fault == ActiveFault::None;
        tracing::info!(?fault, "fault proxy: fault set");
        *self.shared.fault.lock() = fault;
        if cut {
            self.shared.cut.send_modify(|n| *n += 1);
        }
        if off {
            self.shared.release.send_modify(|n| *n += 1);
        }
    }

    /// The fault in effect (a BrokerUnavailable past its `until` reads as None).
    pub fn fault(&self) -> ActiveFault {
        let mut fault = self.shared.fault.lock();
        if matches!(*fault, ActiveFault::BrokerUnavailable { .. }) && !fault.unavailable_at(Instant::now()) {
            *fault = ActiveFault::None;
        }
        fault.clone()
    }

    pub fn clear_fault(&self) {
        self.set_fault(ActiveFault::None);
    }

    pub fn counters(&self) -> &ProxyCounters {
        &self.shared.counters
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.token.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_lists() {
        let got = parse_bootstrap(" a:1, PLAINTEXT://b:2,,").expect("valid");
        assert_eq!(got, vec!["a:1".to_owned(), "b:2".to_owned()]);
        assert!(parse_bootstrap("").is_err());
        assert!(parse_bootstrap("nohost").is_err());
    }
}
