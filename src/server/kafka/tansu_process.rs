//! The Tansu process itself: find the binary, start it with in-memory storage on an address,
//! wait until it accepts connections, relay its output to the log, and stop it.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// How to get Tansu when it is missing (what `make run` does).
pub const TANSU_INSTALL_HINT: &str = "cargo install tansu --version 0.6.0 --locked --features dynostore";

/// How long Tansu may take to accept connections after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long Tansu may take to exit after SIGTERM before it is killed. Short: with clients still
/// connected (the service's own, until the process exits) Tansu waits for them, and its memory
/// storage has nothing to save.
const STOP_GRACE: Duration = Duration::from_millis(500);
/// Lines of Tansu's output kept to explain a failed start.
const OUTPUT_TAIL: usize = 20;

/// Why the embedded broker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("TANSU_BIN={0} does not exist. Install Tansu with `{TANSU_INSTALL_HINT}`")]
    MissingBinary(PathBuf),
    #[error(
        "Tansu, the embedded broker, was not found on PATH. Install it with `{TANSU_INSTALL_HINT}` \
         (`make run` does), set TANSU_BIN, or set KAFKA_BOOTSTRAP_SERVERS to use an existing cluster"
    )]
    NotInstalled,
    #[error("no free loopback port for the embedded broker")]
    NoPort(#[source] std::io::Error),
    #[error("cannot start {bin}")]
    Spawn { bin: PathBuf, source: std::io::Error },
    #[error("Tansu exited during start-up ({status}): {output}")]
    Exited { status: std::process::ExitStatus, output: String },
    #[error("Tansu did not accept connections on {listen} within {READY_TIMEOUT:?}")]
    NotReady { listen: SocketAddr },
}

/// The last lines Tansu printed.
pub type OutputTail = Arc<Mutex<VecDeque<String>>>;

pub fn resolve_binary(bin: Option<&Path>) -> Result<PathBuf, BrokerError> {
    if let Some(bin) = bin {
        return if bin.is_file() { Ok(bin.to_owned()) } else { Err(BrokerError::MissingBinary(bin.to_owned())) };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("tansu"))
        .find(|p| p.is_file())
        .ok_or(BrokerError::NotInstalled)
}

/// Starts Tansu on `listen`, advertising `advertised`, and waits until it accepts connections.
pub async fn spawn_and_wait(
    bin: &Path,
    listen: SocketAddr,
    advertised: SocketAddr,
    tail: &OutputTail,
) -> Result<Child, BrokerError> {
    let mut child = command(bin, listen, advertised)
        .spawn()
        .map_err(|source| BrokerError::Spawn { bin: bin.to_owned(), source })?;
    // Each relay ends when Tansu closes its end of the pipe (when it exits).
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
            return Err(BrokerError::Exited { status, output: output.join(" | ") });
        }
        if tokio::net::TcpStream::connect(listen).await.is_ok() {
            return Ok(child);
        }
        if tokio::time::Instant::now() >= deadline {
            terminate(&mut child).await;
            return Err(BrokerError::NotReady { listen });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn command(bin: &Path, listen: SocketAddr, advertised: SocketAddr) -> Command {
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
        // A group of its own: a terminal's Ctrl-C signals its whole foreground group, and Tansu
        // must outlive the service's drain (the service stops it last).
        .process_group(0)
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
    cmd
}

async fn relay_output(stream: impl AsyncRead + Unpin, tail: OutputTail) {
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

/// SIGTERM, then SIGKILL after a grace period.
pub async fn terminate(child: &mut Child) {
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
