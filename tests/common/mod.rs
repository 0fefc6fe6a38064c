//! Test harness: the real service on port 0 over a real Tansu broker, and a reader that
//! checks what actually landed in a topic.
#![allow(dead_code)]

pub mod in_memory;

use clap::Parser;
use producer_reliability::server::config::Config;
use producer_reliability::server::kafka::EmbeddedBroker;
use producer_reliability::server::kafka::KafkaSettings;
pub use producer_reliability::server::lab::verifier::ReadRecord;
use producer_reliability::server::lab::verifier::{read_back, ReadBound};
use producer_reliability::server::startup::{self, Server};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct TestService {
    pub server: Server,
    pub base: String,
    pub client: reqwest::Client,
}

/// How long a lookup of an unknown id may catch up in tests (`STATE_CATCH_UP_MS`; 1 s by
/// default): a round that outlasts the bound answers 503, not 404, and tests sharing two cores
/// with others can make a round slow.
pub const CATCH_UP_MS: &str = "5000";

/// Extra flags on top of a port-0 listener; an empty bootstrap means the embedded broker.
/// Waits until the service is ready (the broker answers and the status view is rebuilt).
pub async fn start_service(extra: &[&str]) -> TestService {
    let svc = start_service_unready(extra).await;
    let state = svc.server.state().clone();
    let ready = eventually(Duration::from_secs(30), || async { state.broker_info().await.ready }).await;
    assert!(ready, "not ready: {:?}", state.broker_info().await.reason);
    svc
}

/// Logs of the service under test go to the test's captured output (shown when it fails).
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

/// As [`start_service`], without waiting for the broker.
pub async fn start_service_unready(extra: &[&str]) -> TestService {
    init_logs();
    let mut args = vec!["producer-reliability", "--site-addr", "127.0.0.1:0"];
    if !extra.contains(&"--kafka-bootstrap-servers") {
        args.extend(["--kafka-bootstrap-servers", ""]);
    }
    if !extra.contains(&"--state-catch-up-ms") {
        args.extend(["--state-catch-up-ms", CATCH_UP_MS]);
    }
    args.extend_from_slice(extra);
    let config = Config::try_parse_from(args).expect("test config");
    let options = leptos::config::get_configuration(None).expect("leptos options").leptos_options;
    let server = startup::start(config, options).await.expect("service starts (is Tansu installed?)");
    let base = format!("http://{}", server.local_addr());
    TestService { server, base, client: reqwest::Client::new() }
}

/// The value of an unlabelled metric in a `/metrics` text.
pub fn metric_value(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Polls `check` every 50 ms until it holds or `within` passes; true if it held.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A Tansu broker the test owns, outliving the service under test.
pub async fn start_broker() -> EmbeddedBroker {
    EmbeddedBroker::start(None, None, &producer_reliability::server::shutdown::Shutdown::new())
        .await
        .expect("Tansu starts (is it installed?)")
}

pub fn random_topic(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

impl TestService {
    pub fn bootstrap(&self) -> String {
        self.server.state().kafka.bootstrap_servers.clone()
    }

    pub async fn post(&self, path_and_query: &str) -> reqwest::Response {
        self.client.post(format!("{}{path_and_query}", self.base)).send().await.expect("request")
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client.get(format!("{}{path_and_query}", self.base)).send().await.expect("request")
    }

    /// Polls the status of an async send until it leaves PENDING (bounded).
    pub async fn wait_terminal(&self, request_id: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status: serde_json::Value =
                self.get(&format!("/api/v1/status?requestId={request_id}")).await.json().await.expect("json");
            if status["state"] != "PENDING" {
                return status;
            }
            assert!(Instant::now() < deadline, "still PENDING after 30 s: {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads `topic` back with the service's own verifier reader: until every `(partition, offset)`
/// in `wanted` was seen and `quiet` passed with nothing new (never trusting the high watermark).
/// The reader blocks, so it runs on a blocking thread, off the test's runtime workers.
pub async fn read_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    wanted: &[(i32, i64)],
    quiet: Duration,
) -> Vec<ReadRecord> {
    let settings = KafkaSettings::new(&Config::defaults(), bootstrap.to_owned());
    let mut acked_offsets = HashMap::new();
    for (p, o) in wanted {
        let e = acked_offsets.entry(*p).or_insert(*o);
        *e = (*e).max(*o);
    }
    let bound = ReadBound { acked_offsets, quiet, max_wait: Duration::from_secs(60) };
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || read_back(&settings, &topic, partitions, &bound))
        .await
        .expect("read-back task")
        .expect("read back")
}

/// Writes `(key, value)` records to `topic` (to `partition`, or as the key hashes) with a plain
/// producer, and waits for each acknowledgement: where each one landed, in order.
pub async fn write_records(
    bootstrap: &str,
    topic: &str,
    partition: Option<i32>,
    records: &[(&str, &[u8])],
) -> Vec<(i32, i64)> {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let settings = KafkaSettings::new(&Config::defaults(), bootstrap.to_owned());
    let producer: FutureProducer = settings.client_config().set("linger.ms", "5").create().expect("producer");
    let writes: Vec<_> = records
        .iter()
        .map(|(key, value)| {
            let mut record = FutureRecord::to(topic).key(*key).payload(*value);
            record.partition = partition;
            producer.send(record, Duration::from_secs(30))
        })
        .collect();
    let mut at = Vec::with_capacity(writes.len());
    for write in writes {
        let delivered = write.await.expect("record written");
        at.push((delivered.partition, delivered.offset));
    }
    at
}

/// The release-shaped binary, started as a user would, with its log captured.
pub struct RunningBinary {
    pub child: std::process::Child,
    pub http: std::net::SocketAddr,
    /// Where the embedded broker listens (none with an external cluster).
    pub broker: Option<std::net::SocketAddr>,
    head: Vec<String>,
    /// The log after the start, and stderr: read by [`RunningBinary::finish`].
    rest: Option<std::thread::JoinHandle<Vec<String>>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// A test that fails before [`RunningBinary::finish`] must not leave the service running (it
/// leads a process group of its own, out of reach of the terminal's Ctrl-C).
impl Drop for RunningBinary {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A replica of the service on the shared broker.
pub fn replica(bootstrap: &str, name: &str, extra: &[(&str, &str)]) -> RunningBinary {
    let mut envs = vec![
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap),
        ("REPLICA_ID", name),
        ("RUST_LOG", "warn,producer_reliability=info"),
        ("STATE_CATCH_UP_MS", CATCH_UP_MS),
    ];
    envs.extend_from_slice(extra);
    spawn_binary(&envs)
}

/// Starts the binary on a free port with `envs`, and waits until its log says it listens.
pub fn spawn_binary(envs: &[(&str, &str)]) -> RunningBinary {
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_producer-reliability"));
    cmd.env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The leader of a process group, as a shell makes a command it runs (see `signal_group`).
        .process_group(0);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("binary starts");
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut head, mut broker) = (Vec::new(), None);
    for line in lines.by_ref() {
        let line = line.expect("log line");
        let address_after = |marker: &str| {
            line.split(marker).nth(1).and_then(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect::<String>()
                    .parse()
                    .ok()
            })
        };
        if let Some(addr) = address_after("listen=").or_else(|| address_after("\"listen\":\"")) {
            broker = Some(addr);
        }
        let http = address_after("listening on http://");
        head.push(line);
        if let Some(http) = http {
            // Keep draining the log so the service never blocks on a full pipe.
            let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect());
            return RunningBinary { child, http, broker, head, rest: Some(rest), stderr: Some(stderr) };
        }
    }
    let status = child.wait();
    let err = stderr.join().unwrap_or_default();
    panic!("the service exited ({status:?}) before listening: {}\n{err}", head.join("\n"));
}

impl RunningBinary {
    pub fn base(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Waits (bounded) until `/health/ready` answers 200: the broker answers and the status view
    /// is rebuilt, as a load balancer's health check would.
    pub async fn ready(&self) {
        let client = reqwest::Client::new();
        let url = format!("{}/health/ready", self.base());
        let ready = eventually(Duration::from_secs(30), || async {
            client.get(&url).send().await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(ready, "{} did not become ready", self.base());
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    /// Signals the binary's whole process group, as a terminal's Ctrl-C does.
    pub fn signal_group(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on the process group our child leads.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), sig);
        }
    }

    /// Stops it as an orchestrator does (SIGTERM) and waits: its exit status and whole log.
    pub async fn terminate(self) -> (std::process::ExitStatus, String) {
        self.signal(libc::SIGTERM);
        self.finish_async().await
    }

    /// [`RunningBinary::finish`] on a blocking thread, for async tests.
    pub async fn finish_async(self) -> (std::process::ExitStatus, String) {
        tokio::task::spawn_blocking(move || self.finish()).await.expect("waiting for the service")
    }

    /// Waits for the exit; returns its status and the whole log (stdout then stderr). Blocking.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().expect("exit status");
        let mut log = std::mem::take(&mut self.head);
        log.extend(self.rest.take().and_then(|rest| rest.join().ok()).unwrap_or_default());
        let stderr = self.stderr.take().and_then(|stderr| stderr.join().ok()).unwrap_or_default();
        (status, log.join("\n") + "\n" + &stderr)
    }
}

/// Stops every replica as an orchestrator does (SIGTERM), one after the other, and asserts that
/// each exited cleanly (its log in the message otherwise).
pub async fn stop_replicas(replicas: impl IntoIterator<Item = RunningBinary>) {
    for r in replicas {
        let (exit, log) = r.terminate().await;
        assert!(exit.success(), "{log}");
    }
}
