//! Settings, read once at start-up from the environment (the seed's variables) or the same
//! options as command-line flags. Nothing reads the environment after this.

mod values;

pub use values::{KafkaProperties, Secret};

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Parser)]
#[command(name = "producer-reliability", version, about)]
pub struct Config {
    /// Address the UI and API listen on. Defaults to loopback: binding elsewhere is explicit.
    #[arg(long, env = "LEPTOS_SITE_ADDR", value_name = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub site_addr: SocketAddr,

    /// Kafka bootstrap servers. Unset or empty: start an embedded in-memory Tansu broker.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", value_name = "KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka_bootstrap_servers: Option<String>,

    /// `request.timeout.ms`: how long the broker may take to acknowledge (acks).
    #[arg(long, env = "KAFKA_REQUEST_TIMEOUT_MS", value_name = "KAFKA_REQUEST_TIMEOUT_MS", default_value_t = 1000)]
    pub kafka_request_timeout_ms: u32,

    /// `message.timeout.ms`: the bound on a send, retries included.
    #[arg(
        long,
        env = "KAFKA_DELIVERY_TIMEOUT_MS",
        value_name = "KAFKA_DELIVERY_TIMEOUT_MS",
        default_value_t = 120_000
    )]
    pub kafka_delivery_timeout_ms: u32,

    /// `retry.backoff.ms`.
    #[arg(long, env = "KAFKA_RETRY_BACKOFF_MS", value_name = "KAFKA_RETRY_BACKOFF_MS", default_value_t = 100)]
    pub kafka_retry_backoff_ms: u32,

    /// `message.send.max.retries`.
    #[arg(long, env = "KAFKA_RETRIES", value_name = "KAFKA_RETRIES", default_value_t = 10)]
    pub kafka_retries: u32,

    /// `linger.ms`.
    #[arg(long, env = "KAFKA_LINGER_MS", value_name = "KAFKA_LINGER_MS", default_value_t = 0)]
    pub kafka_linger_ms: u32,

    /// `socket.timeout.ms`: when it expires librdkafka retries the request itself.
    #[arg(long, env = "KAFKA_SOCKET_TIMEOUT_MS", value_name = "KAFKA_SOCKET_TIMEOUT_MS", default_value_t = 60_000)]
    pub kafka_socket_timeout_ms: u32,

    /// How long a send waits for room when librdkafka's local queue is full (as the Java
    /// producer's `max.block.ms`): a burst slows callers down instead of failing them. Past it,
    /// 503 with `Retry-After`. 0: refuse at once.
    #[arg(long, env = "KAFKA_MAX_BLOCK_MS", value_name = "KAFKA_MAX_BLOCK_MS", default_value_t = 5000)]
    pub kafka_max_block_ms: u32,

    /// How much lower than the service's own threads the two producers' librdkafka threads run
    /// (added to their nice value, 0-19; 0: the same). On a busy machine the HTTP workers and a local broker
    /// get the CPU first (see docs/performance.md).
    #[arg(long, env = "KAFKA_PRODUCER_NICE", value_name = "KAFKA_PRODUCER_NICE", default_value_t = 10,
          value_parser = clap::value_parser!(u8).range(0..=19))]
    pub kafka_producer_nice: u8,

    /// Topic used when a send names none.
    #[arg(long, env = "KAFKA_DEFAULT_TOPIC", value_name = "KAFKA_DEFAULT_TOPIC", default_value = crate::model::DEFAULT_TOPIC)]
    pub kafka_default_topic: String,

    /// Partitions of a topic the service creates because it was missing.
    #[arg(long, env = "KAFKA_TOPIC_PARTITIONS", value_name = "KAFKA_TOPIC_PARTITIONS", default_value_t = 3,
          value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub kafka_topic_partitions: i32,

    /// Replication factor of a created topic; -1 lets the cluster choose its default.
    #[arg(long, env = "KAFKA_TOPIC_REPLICATION", value_name = "KAFKA_TOPIC_REPLICATION", default_value_t = -1,
          allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-1..=32))]
    pub kafka_topic_replication: i32,

    /// Most records in one batch (`POST /api/v1/batches`); beyond, 413.
    #[arg(long, env = "BATCH_MAX_RECORDS", value_name = "BATCH_MAX_RECORDS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_max_records: u64,

    /// Largest JSON batch body, in bytes (read whole; NDJSON batches stream and have no such limit).
    #[arg(long, env = "BATCH_MAX_BYTES", value_name = "BATCH_MAX_BYTES", default_value_t = 16 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub batch_max_bytes: u64,

    /// Most statuses kept; the oldest are evicted first.
    #[arg(long, env = "STATUS_STORE_CAPACITY", value_name = "STATUS_STORE_CAPACITY", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub status_store_capacity: u64,

    /// Seconds a status is kept after its send.
    #[arg(long, env = "STATUS_STORE_MAX_AGE_SECS", value_name = "STATUS_STORE_MAX_AGE_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub status_store_max_age_secs: u64,

    /// Seconds an `Idempotency-Key` is honoured after its first request (Stripe's 24 hours).
    #[arg(long, env = "IDEMPOTENCY_KEY_TTL_SECS", value_name = "IDEMPOTENCY_KEY_TTL_SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub idempotency_key_ttl_secs: u64,

    /// Refuse sends without an `Idempotency-Key` (400 with a link to the docs).
    #[arg(long, env = "REQUIRE_IDEMPOTENCY_KEY", value_name = "REQUIRE_IDEMPOTENCY_KEY", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub require_idempotency_key: bool,

    /// The topic every replica keeps its statuses in (created with `cleanup.policy=compact`).
    #[arg(long, env = "STATE_TOPIC", value_name = "STATE_TOPIC", default_value = "producer-reliability-state")]
    pub state_topic: String,

    /// Partitions of the state topic when the service creates it (a topic that exists keeps its
    /// own count, which every replica adopts). Eight by default: a claim is read back from its
    /// key's partition alone, and Tansu lists a whole partition on every read, so smaller
    /// partitions cost less there (docs/performance.md).
    #[arg(long, env = "STATE_TOPIC_PARTITIONS", value_name = "STATE_TOPIC_PARTITIONS", default_value_t = 8,
          value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub state_topic_partitions: i32,

    /// This replica's name (in the state topic, `X-Served-By` and the UI); a random suffix tells
    /// its incarnations apart. Default: the host name.
    #[arg(long, env = "REPLICA_ID", value_name = "REPLICA_ID")]
    pub replica_id: Option<String>,

    /// How long a replica's heartbeat holds: past it, the others report its PENDING sends UNKNOWN.
    #[arg(long, env = "REPLICA_LEASE_MS", value_name = "REPLICA_LEASE_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(500..))]
    pub replica_lease_ms: u64,

    /// How long a lookup of an id this replica does not know waits for its view to catch up.
    #[arg(long, env = "STATE_CATCH_UP_MS", value_name = "STATE_CATCH_UP_MS", default_value_t = 1000)]
    pub state_catch_up_ms: u64,

    /// `fetch.wait.max.ms` of the state topic's follower: how long the broker may hold a fetch
    /// while it has nothing new. Kafka answers as soon as a record arrives; Tansu holds every fetch
    /// this long, so on Tansu it bounds how soon a replica reads what was just written (an
    /// idempotency key's claim waits for it) against what a busy state topic costs the broker.
    #[arg(long, env = "STATE_FETCH_WAIT_MS", value_name = "STATE_FETCH_WAIT_MS", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub state_fetch_wait_ms: u32,

    /// The least time between two bulks of statuses while the replica is busy (a quiet
    /// replica writes each change at once).
    #[arg(long, env = "STATE_LINGER_MS", value_name = "STATE_LINGER_MS", default_value_t = 1)]
    pub state_linger_ms: u32,

    /// How long an async send waits for the state topic to acknowledge its PENDING status.
    #[arg(long, env = "STATE_WRITE_TIMEOUT_MS", value_name = "STATE_WRITE_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub state_write_timeout_ms: u64,

    /// How long shutdown waits for undelivered records.
    #[arg(long, env = "SHUTDOWN_FLUSH_TIMEOUT_MS", value_name = "SHUTDOWN_FLUSH_TIMEOUT_MS", default_value_t = 5000)]
    pub shutdown_flush_timeout_ms: u32,

    /// Tansu binary for the embedded broker; else `tansu` on PATH.
    #[arg(long, env = "TANSU_BIN", value_name = "TANSU_BIN")]
    pub tansu_bin: Option<PathBuf>,

    /// `human` or `json` (one JSON object per line).
    #[arg(long, env = "LOG_FORMAT", value_name = "LOG_FORMAT", default_value = "human")]
    pub log_format: LogFormat,

    /// When set, every produce path (REST and server functions) needs `Authorization: Bearer <token>`.
    #[arg(long, env = "API_TOKEN", value_name = "API_TOKEN", hide_env_values = true)]
    pub api_token: Option<Secret>,

    /// Comma-separated topic names or `*` globs a send may use; any other topic is refused (403).
    #[arg(long, env = "ALLOWED_TOPICS", value_name = "ALLOWED_TOPICS")]
    pub allowed_topics: Option<String>,

    /// `security.protocol`: plaintext, ssl, sasl_plaintext or sasl_ssl.
    #[arg(long, env = "KAFKA_SECURITY_PROTOCOL", value_name = "KAFKA_SECURITY_PROTOCOL")]
    pub kafka_security_protocol: Option<String>,

    /// `sasl.mechanism`: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or GSSAPI.
    #[arg(long, env = "KAFKA_SASL_MECHANISM", value_name = "KAFKA_SASL_MECHANISM")]
    pub kafka_sasl_mechanism: Option<String>,

    /// `sasl.username`.
    #[arg(long, env = "KAFKA_SASL_USERNAME", value_name = "KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,

    /// `sasl.password` (never logged nor shown).
    #[arg(long, env = "KAFKA_SASL_PASSWORD", value_name = "KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<Secret>,

    /// `ssl.ca.location`: CA certificate(s) to verify the brokers.
    #[arg(long, env = "KAFKA_SSL_CA_LOCATION", value_name = "KAFKA_SSL_CA_LOCATION")]
    pub kafka_ssl_ca_location: Option<String>,

    /// Whether the lab's fault switch may reach every send through the service (its producers then
    /// connect through the fault proxy). Default: on with the embedded broker, off with an external
    /// cluster, so that nobody who reaches the port can slow down production traffic by accident.
    #[arg(long, env = "LAB_GLOBAL_FAULTS", value_name = "LAB_GLOBAL_FAULTS")]
    pub lab_global_faults: Option<bool>,

    /// Any other librdkafka property, for every Kafka client of the service: comma-separated
    /// `key=value` pairs (e.g. `compression.type=zstd,batch.size=65536`), applied last.
    #[arg(long, env = "KAFKA_PROPERTIES", value_name = "KAFKA_PROPERTIES")]
    pub kafka_properties: Option<KafkaProperties>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

impl Config {
    /// The external cluster, if one is named; empty counts as unset (embedded broker).
    pub fn external_bootstrap(&self) -> Option<&str> {
        self.kafka_bootstrap_servers.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    pub fn delivery_timeout(&self) -> Duration {
        Duration::from_millis(self.kafka_delivery_timeout_ms.into())
    }

    pub fn shutdown_flush_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_flush_timeout_ms.into())
    }

    pub fn status_store_max_age(&self) -> Duration {
        Duration::from_secs(self.status_store_max_age_secs)
    }

    pub fn idempotency_key_ttl(&self) -> Duration {
        Duration::from_secs(self.idempotency_key_ttl_secs)
    }

    /// `producer-reliability-<hostname>`, as the seed named its clients after the machine.
    pub fn client_id(&self) -> String {
        let host = gethostname::gethostname();
        format!("producer-reliability-{}", host.to_string_lossy())
    }

    /// This process's replica id: `REPLICA_ID` (else the host name) and a random suffix, so that
    /// a restarted replica is not taken for the one that stopped.
    pub fn replica(&self) -> String {
        let name = self
            .replica_id
            .clone()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{name}-{}", &suffix[..6])
    }

    /// Whether the global fault switch is on: as configured, else only with the embedded broker.
    pub fn global_faults(&self) -> bool {
        self.lab_global_faults.unwrap_or(self.external_bootstrap().is_none())
    }

    /// Whether the fault proxy can stand between the service and the cluster: it reads Kafka's
    /// frames, so the connection must not be TLS (SASL over plaintext passes through).
    pub fn plaintext_cluster(&self) -> bool {
        self.kafka_security_protocol
            .as_deref()
            .map(str::trim)
            .is_none_or(|p| p.eq_ignore_ascii_case("plaintext") || p.eq_ignore_ascii_case("sasl_plaintext"))
    }

    /// The topic patterns of `ALLOWED_TOPICS`, if set.
    pub fn allowed_topic_patterns(&self) -> Option<Vec<String>> {
        self.allowed_topics
            .as_deref()
            .map(|list| list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect())
    }

    /// A configuration with every default, for tests and tools that build one in code.
    pub fn defaults() -> Self {
        Config::parse_from(["producer-reliability"])
    }
}

#[cfg(test)]
mod tests;
