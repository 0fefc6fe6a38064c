//! The embedded broker: a Tansu child process with in-memory storage on a free loopback port,
//! started, watched, restarted when it dies, and stopped on every exit path (including a crash
//! of this service, through the kernel's parent-death signal).

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};

/// How to get Tansu when it is missing (what `make run` does).
pub const TANSU_INSTALL_HINT: &str = "cargo install tansu --version 0.6.0 --locked --features dynostore";

/// How long Tansu may take to accept connections after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long Tansu may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Lines of Tansu's output kept to explain a failed start.
const OUTPUT_TAIL: usize = 20;

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
    stop: Mutex<Option<oneshot::Sender<()>>>,
    finished: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl EmbeddedBroker {
    /// Starts Tansu and waits until it accepts connections. `advertised` is the address
    /// clients are told to use (a proxy in front of the broker); `None` advertises the broker.
    pub async fn start(bin: Option<&Path>, advertised: Option<SocketAddr>) -> Result<Self, String> {
        let listen = free_loopback_port().map_err(|e| format!("no free loopback port for the embedded broker: {e}"))?;
        Self::start_on(bin, listen, advertised).await
    }

    /// As [`EmbeddedBroker::start`], on a given address (a broker that comes back where it was).
    pub async fn start_on(
        bin: Option<&Path>,
        listen: SocketAddr,
        advertised: Option<SocketAddr>,
    ) -> Result<Self, String> {
        let bin = resolve_binary(bin)?;
        let advertised = advertised.unwrap_or(listen);
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let child = spawn_and_wait(&bin, listen, advertised, &tail).await?;
        let pid = Arc::new(AtomicU32::new(child.id().unwrap_or(0)));
        let (life_tx, life) = watch::channel(BrokerLife { generation: 1, alive: true, reason: None });
        let (stop_tx, stop_rx) = oneshot::channel();
        let supervisor = Supervisor { bin, listen, advertised, tail, pid: pid.clone(), life: life_tx };
        let finished = tokio::spawn(supervisor.run(child, stop_rx));
        tracing::info!(
            listen = %listen,
            bootstrap = %advertised,
            "embedded Kafka broker (Tansu, in-memory storage: data is lost when the service stops)"
        );
        Ok(Self {
            listen,
            advertised,
            pid,
            life,
            stop: Mutex::new(Some(stop_tx)),
            finished: Mutex::new(Some(finished)),
        })
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

    /// Stops Tansu (SIGTERM, then SIGKILL after a grace period) and the supervision.
    pub async fn stop(&self) {
        if let Some(stop) = self.stop.lock().take() {
            let _ = stop.send(());
        }
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
    tail: Arc<Mutex<VecDeque<String>>>,
    pid: Arc<AtomicU32>,
    life: watch::Sender<BrokerLife>,
}

impl Supervisor {
    async fn run(self, mut child: Child, mut stop: oneshot::Receiver<()>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            tokio::select! {
                _ = &mut stop => {
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
            // Restart, with a growing pause while it keeps failing; a stop request still wins.
            loop {
                tokio::select! {
                    _ = &mut stop => {
                        self.life.send_modify(|l| l.reason = Some("stopped".into()));
                        return;
                    }
                    _ = tokio::time::sleep(backoff) => {}
                }
                match spawn_and_wait(&self.bin, self.listen, self.advertised, &self.tail).await {
                    Ok(new_child) => {
                        child = new_child;
                        self.pid.store(child.id().unwrap_or(0), Ordering::Relaxed);
                        self.life.send_modify(|l| {
                            l.generation += 1;
                            l.alive = true;
                            l.reason = None;
                        });
                        tracing::info!(listen = %self.listen, "embedded broker restarted (empty)");
                        backoff = Duration::from_millis(200);
                        break;
                    }
                    Err(error) => {
                        tracing::error!(%error, "embedded broker failed to restart");
                        self.life.send_modify(|l| l.reason = Some(error));
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    }
}

fn resolve_binary(bin: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(bin) = bin {
        return if bin.is_file() {
            Ok(bin.to_owned())
        } else {
            Err(format!("TANSU_BIN={} does not exist. Install Tansu with `{TANSU_INSTALL_HINT}`", bin.display()))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("tansu"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "Tansu, the embedded broker, was not found on PATH. Install it with `{TANSU_INSTALL_HINT}` \
                 (`make run` does), set TANSU_BIN, or set KAFKA_BOOTSTRAP_SERVERS to use an existing cluster"
            )
        })
}

fn free_loopback_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}

async fn spawn_and_wait(
    bin: &Path,
    listen: SocketAddr,
    advertised: SocketAddr,
    tail: &Arc<Mutex<VecDeque<String>>>,
) -> Result<Child, String> {
    let mut cmd = Command::new(bin);
    cmd.arg("broker")
        .arg("--listener-url")
        .arg(format!("tcp://{listen}"))
        .arg("--advertised-listener-url")
        .arg(format!("tcp://{advertised}"))
        .arg("--storage-engine")
        .arg("memory://tansu/")
        .arg("--cluster-id")
        .arg("producer-reliability")
        // Tansu reads a `.env` in its working directory and these variables: keep both out.
        .current_dir(std::env::temp_dir())
        .env_remove("CLUSTER_ID")
        .env_remove("LISTENER_URL")
        .env_remove("ADVERTISED_LISTENER_URL")
        .env_remove("STORAGE_ENGINE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal, so the
    // kernel kills Tansu if the service dies without stopping it (no orphan broker).
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(relay_output(out, tail.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(relay_output(err, tail.clone()));
    }
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let output: Vec<String> = tail.lock().iter().cloned().collect();
            return Err(format!("Tansu exited during start-up ({status}): {}", output.join(" | ")));
        }
        if tokio::net::TcpStream::connect(listen).await.is_ok() {
            return Ok(child);
        }
        if tokio::time::Instant::now() >= deadline {
            terminate(&mut child).await;
            return Err(format!("Tansu did not accept connections on {listen} within {READY_TIMEOUT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn relay_output(stream: impl AsyncRead + Unpin, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "tansu", "{line}");
        let mut tail = tail.lock();
        if tail.len() == OUTPUT_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}
