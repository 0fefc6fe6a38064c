//! The proxy's listeners ("port identifies node"): one bootstrap listener relaying to the
//! first reachable bootstrap server, and one listener per cluster node id, bound on demand the
//! first time a rewritten response names the node, reused afterwards, its upstream updated if
//! the cluster moves the node. Also the state every task of the proxy shares.

use super::fault::{bump, ActiveFault, ProxyCounters};
use super::relay;
use super::rewrite::NodeListeners;
use crate::server::shutdown::Shutdown;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A cluster with more nodes than this is refused (a bound on the listeners bound on demand).
const MAX_NODES: usize = 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One cluster node behind its proxy listener.
#[derive(Debug)]
pub(crate) struct NodeEntry {
    pub node_id: i32,
    pub addr: SocketAddr,
    /// `host:port` the cluster advertised last for this node.
    pub upstream: Mutex<String>,
}

/// Where a listener's connections go.
#[derive(Debug, Clone)]
pub(crate) enum Upstream {
    Bootstrap,
    Node(Arc<NodeEntry>),
}

/// State shared by the proxy handle and all its tasks.
pub(crate) struct Shared {
    pub fault: Mutex<ActiveFault>,
    pub counters: ProxyCounters,
    /// Bumped to close every open connection (start of a broker-unavailable window).
    pub cut: watch::Sender<u64>,
    /// Bumped when the fault is switched off: responses still held are let go at once.
    pub release: watch::Sender<u64>,
    /// The one shutdown signal (a child of the service's): every task the proxy spawns stops
    /// when it is cancelled, and the service's shutdown waits for them.
    pub token: CancellationToken,
    pub tasks: Shutdown,
    pub bootstrap: Vec<String>,
    pub bootstrap_addr: SocketAddr,
    pub nodes: Mutex<BTreeMap<i32, Arc<NodeEntry>>>,
}

impl Shared {
    pub fn unavailable(&self) -> bool {
        self.fault.lock().unavailable_at(Instant::now())
    }

    fn is_own_listener(&self, host: &str, port: i32) -> bool {
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        loopback
            && (i32::from(self.bootstrap_addr.port()) == port
                || self.nodes.lock().values().any(|n| i32::from(n.addr.port()) == port))
    }
}

/// Binds 127.0.0.1:0 synchronously (so it can happen inside a rewrite) for tokio.
pub(crate) fn bind_loopback() -> io::Result<TcpListener> {
    let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    std_listener.set_nonblocking(true)?;
    TcpListener::from_std(std_listener)
}

/// `host:port`, bracketing an IPv6 literal.
fn host_port(host: &str, port: i32) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl NodeListeners for Arc<Shared> {
    fn listener_for(&self, node_id: i32, host: &str, port: i32) -> io::Result<(String, i32)> {
        if node_id < 0 || !(1..=65535).contains(&port) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("bad node {node_id} at {host}:{port}")));
        }
        if self.is_own_listener(host, port) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("node {node_id} points at this proxy")));
        }
        let upstream = host_port(host, port);
        let mut nodes = self.nodes.lock();
        if let Some(entry) = nodes.get(&node_id) {
            let mut current = entry.upstream.lock();
            if *current != upstream {
                tracing::info!(node_id, from = %current, to = %upstream, "fault proxy: node moved");
                *current = upstream;
            }
            return Ok((entry.addr.ip().to_string(), i32::from(entry.addr.port())));
        }
        if nodes.len() >= MAX_NODES {
            return Err(io::Error::other(format!("more than {MAX_NODES} nodes")));
        }
        let listener = bind_loopback()?;
        let addr = listener.local_addr()?;
        let entry = Arc::new(NodeEntry { node_id, addr, upstream: Mutex::new(upstream) });
        tracing::info!(node_id, proxy = %addr, upstream = %entry.upstream.lock(), "fault proxy: node listener bound");
        nodes.insert(node_id, entry.clone());
        self.tasks.spawn_last(accept_loop(listener, Upstream::Node(entry), self.clone()));
        Ok((addr.ip().to_string(), i32::from(addr.port())))
    }
}

/// Accepts client connections until shutdown; refuses them while the broker plays absent.
pub(crate) async fn accept_loop(listener: TcpListener, upstream: Upstream, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.token.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (client, peer) = match accepted {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(%error, "fault proxy: accept failed");
                tokio::select! {
                    _ = shared.token.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                }
            }
        };
        let cut = shared.cut.subscribe();
        if shared.unavailable() {
            bump(&shared.counters.refused_connections);
            drop(client);
            continue;
        }
        bump(&shared.counters.connections);
        let task = relay::connection(client, peer, upstream.clone(), shared.clone(), cut);
        shared.tasks.spawn_last(task);
    }
}

/// Connects to a listener's upstream: the first reachable bootstrap server, or the node's
/// current address.
pub(crate) async fn connect_upstream(upstream: &Upstream, shared: &Shared) -> io::Result<(TcpStream, String)> {
    let candidates = match upstream {
        Upstream::Bootstrap => shared.bootstrap.clone(),
        Upstream::Node(entry) => vec![entry.upstream.lock().clone()],
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no upstream");
    for target in candidates {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target.as_str())).await {
            Ok(Ok(stream)) => return Ok((stream, target)),
            Ok(Err(error)) => {
                tracing::debug!(%target, %error, "fault proxy: upstream unreachable");
                last = error;
            }
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, format!("connect to {target} timed out")),
        }
    }
    Err(last)
}
