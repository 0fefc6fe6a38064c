//! The service under test as a separate process (the release binary), and how to read its memory.

use super::Res;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVICE_BIN: &str = "target/release/producer-reliability";

pub fn free_port() -> Res<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The release binary's size as built, and stripped of its symbol table (as the container
/// image ships it: the names of Leptos' nested view types are most of the file).
pub fn binary_bytes() -> Res<(u64, u64)> {
    let stripped = std::env::temp_dir().join(format!("producer-reliability-stripped-{}", std::process::id()));
    let status = Command::new("strip").arg("-o").arg(&stripped).arg(SERVICE_BIN).status()?;
    if !status.success() {
        return Err(format!("strip failed: {status}").into());
    }
    let sizes = (std::fs::metadata(SERVICE_BIN)?.len(), std::fs::metadata(&stripped)?.len());
    std::fs::remove_file(&stripped)?;
    Ok(sizes)
}

/// Resident memory once it stopped falling (no drop for a second, at most 10 s): what the
/// process keeps after a burst, once it gave back what it freed.
pub fn settled_rss_mb(pid: u32) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lowest = rss_mb(pid, "VmRSS");
    let mut steady_since = Instant::now();
    while Instant::now() < deadline && steady_since.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(100));
        let now = rss_mb(pid, "VmRSS");
        if now < lowest {
            lowest = now;
            steady_since = Instant::now();
        }
    }
    lowest
}

/// A field of `/proc/<pid>/status` in MB (`VmRSS` now, `VmHWM` the peak).
pub fn rss_mb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Resets the kernel's peak-RSS mark, so the next reading is the peak of the next row.
pub fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

pub struct Service {
    child: Child,
    pub addr: SocketAddr,
}

impl Service {
    /// Starts the release build and returns once `/health/ready` says 200, with the time it took.
    pub fn start(bootstrap: Option<&str>, extra_env: &[(&str, &str)]) -> Res<(Self, Duration)> {
        Self::start_bin(SERVICE_BIN, bootstrap, extra_env)
    }

    /// The same, for another build of the service. Each service gets a state topic of its own
    /// (unless `extra_env` names one), as with the embedded default, where every process has its
    /// own broker: on Tansu's in-memory engine a topic costs every fetch more as it grows, and a
    /// row must not pay for the rows before it.
    pub fn start_bin(bin: &str, bootstrap: Option<&str>, extra_env: &[(&str, &str)]) -> Res<(Self, Duration)> {
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        // Its log (warnings and errors) is kept beside the report: a row with errors says why.
        std::fs::create_dir_all("target/bench/logs")?;
        let log = std::fs::File::create(format!("target/bench/logs/service-{port}.log"))?;
        let mut cmd = Command::new(bin);
        cmd.env("LEPTOS_SITE_ADDR", addr.to_string())
            .env("LEPTOS_SITE_ROOT", "target/site")
            .env("RUST_LOG", "warn")
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .env_remove("KAFKA_PROPERTIES")
            .stdout(log)
            .stderr(Stdio::inherit())
            .env("STATE_TOPIC", format!("bench-state-{}-{port}", std::process::id()));
        if let Some(b) = bootstrap {
            cmd.env("KAFKA_BOOTSTRAP_SERVERS", b);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd.spawn()?;
        let service = Service { child, addr };
        let deadline = started + Duration::from_secs(30);
        loop {
            if http_get(addr, "/health/ready").is_ok_and(|answer| answer.starts_with("HTTP/1.1 200")) {
                return Ok((service, started.elapsed()));
            }
            if Instant::now() > deadline {
                return Err("the service did not get ready within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, so the service drains its producers as in production, then waits for the exit.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on our own child process.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

pub fn http_get(addr: SocketAddr, path: &str) -> Res<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}
