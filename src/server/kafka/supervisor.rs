//! The embedded broker: a Tansu child process with in-memory storage on a free loopback port,
//! started, watched, restarted when it dies, and stopped on every exit path (including a crash
//! of this service, through the kernel's parent-death signal).

use super::tansu_process::{resolve_binary, spawn_and_wait, terminate, BrokerError, OutputTail};
use crate::server::shutdown::Shutdown;
use parking_lot::Mutex;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Child;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Attempts at a free port: another process may take the port between our probe and Tansu's bind.
const PORT_ATTEMPTS: usize = 5;

/// What the rest of the service needs to know about the broker process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerLife {
    /// Bumped at every (re)start: an in-memory broker comes back empty.
    pub generation: u64,
    pub alive: bool,
    /// Why it is down, when it is.
    pub reason: Option<String>,
}

pub struct EmbeddedBroker {
    listen: SocketAddr,
    advertised: SocketAddr,
    pid: Arc<AtomicU32>,
    life: watch::Receiver<BrokerLife>,
    stop: CancellationToken,
    finished: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl EmbeddedBroker {
    /// Starts Tansu on a free loopback port and waits until it accepts connections.
    /// `advertised` is the address clients are told to use (`None`: the broker's own). It runs
    /// until [`EmbeddedBroker::stop`] or until `shutdown` is cancelled.
    pub async fn start(
        bin: Option<&Path>,
        advertised: Option<SocketAddr>,
        shutdown: &Shutdown,
    ) -> Result<Self, BrokerError> {
        let mut attempt = 1;
        loop {
            let listen = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .map_err(BrokerError::NoPort)?;
            match Self::start_on(bin, listen, advertised, shutdown).await {
                Err(BrokerError::Exited { status, output }) if attempt < PORT_ATTEMPTS => {
                    tracing::warn!(%listen, %status, %output, "Tansu did not start (port taken?); trying another port");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// As [`EmbeddedBroker::start`], on a given address (a broker that comes back where it was).
    pub async fn start_on(
        bin: Option<&Path>,
        listen: SocketAddr,
        advertised: Option<SocketAddr>,
        shutdown: &Shutdown,
    ) -> Result<Self, BrokerError> {
        let bin = resolve_binary(bin)?;
        let advertised = advertised.unwrap_or(listen);
        let tail = OutputTail::default();
        let child = spawn_and_wait(&bin, listen, advertised, &tail).await?;
        let pid = Arc::new(AtomicU32::new(child.id().unwrap_or(0)));
        let (life_tx, life) = watch::channel(BrokerLife { generation: 1, alive: true, reason: None });
        // Stopped last: every client of the service talks to it until then.
        let stop = shutdown.last_token().child_token();
        let supervisor = Supervisor { bin, listen, advertised, tail, pid: pid.clone(), life: life_tx };
        let finished = shutdown.spawn_last(supervisor.run(child, stop.clone()));
        tracing::info!(
            listen = %listen,
            bootstrap = %advertised,
            "embedded Kafka broker (Tansu, in-memory storage: data is lost when the service stops)"
        );
        Ok(Self { listen, advertised, pid, life, stop, finished: Mutex::new(Some(finished)) })
    }

    /// The bootstrap address clients use.
    pub fn bootstrap(&self) -> String {
        self.advertised.to_string()
    }

    /// Where Tansu itself listens (behind the proxy, when there is one).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The current Tansu process id (0 while it is being restarted).
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    pub fn life(&self) -> watch::Receiver<BrokerLife> {
        self.life.clone()
    }

    /// Stops Tansu (SIGTERM, then SIGKILL after a grace period) and waits for it.
    pub async fn stop(&self) {
        self.stop.cancel();
        let finished = self.finished.lock().take();
        if let Some(finished) = finished {
            let _ = finished.await;
        }
    }
}

struct Supervisor {
    bin: PathBuf,
    listen: SocketAddr,
    advertised: SocketAddr,
    tail: OutputTail,
    pid: Arc<AtomicU32>,
    life: watch::Sender<BrokerLife>,
}

impl Supervisor {
    async fn run(self, mut child: Child, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    terminate(&mut child).await;
                    self.pid.store(0, Ordering::Relaxed);
                    self.life.send_modify(|l| { l.alive = false; l.reason = Some("stopped".into()); });
                    tracing::info!("embedded broker stopped");
                    return;
                }
                status = child.wait() => {
                    let reason = match status {
                        Ok(s) => format!("embedded broker (Tansu) exited: {s}"),
                        Err(e) => format!("embedded broker (Tansu) could not be watched: {e}"),
                    };
                    tracing::error!(%reason, "embedded broker died; restarting it (its in-memory data is lost)");
                    self.pid.store(0, Ordering::Relaxed);
                    self.life.send_modify(|l| { l.alive = false; l.reason = Some(reason.clone()); });
                }
            }
            match self.restart(&stop).await {
                Some(new_child) => child = new_child,
                None => return,
            }
        }
    }

    /// Starts Tansu again where it was, with a growing pause while it keeps failing; `None`
    /// when a stop came first.
    async fn restart(&self, stop: &CancellationToken) -> Option<Child> {
        let mut backoff = Duration::from_millis(200);
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    self.life.send_modify(|l| l.reason = Some("stopped".into()));
                    return None;
                }
                _ = tokio::time::sleep(backoff) => {}
            }
            match spawn_and_wait(&self.bin, self.listen, self.advertised, &self.tail).await {
                Ok(child) => {
                    self.pid.store(child.id().unwrap_or(0), Ordering::Relaxed);
                    self.life.send_modify(|l| {
                        l.generation += 1;
                        l.alive = true;
                        l.reason = None;
                    });
                    tracing::info!(listen = %self.listen, "embedded broker restarted (empty)");
                    return Some(child);
                }
                Err(error) => {
                    tracing::error!(%error, "embedded broker failed to restart");
                    self.life.send_modify(|l| l.reason = Some(error.to_string()));
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
