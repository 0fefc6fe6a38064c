//! librdkafka properties, built once from the configuration: the seed's timeouts shared by
//! both producers, and what distinguishes plain from idempotent.

use crate::model::ProducerMode;
use crate::server::config::{Config, Secret};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::ClientConfig;

/// How often the idempotent producer's statistics feed its stall watch.
const IDEMPOTENT_STATS_MS: u32 = 1000;
/// The longest wait between two attempts to reach a broker (`KAFKA_PROPERTIES` may change it).
const RECONNECT_BACKOFF_MAX_MS: &str = "1000";

/// Properties whose values are never shown (settings listings, logs).
const SECRET_MARKERS: [&str; 3] = ["password", "secret", "token"];

/// Everything a Kafka client of this service needs to connect and to behave as configured.
/// Its `Debug` prints no secret: the SASL password is a [`Secret`].
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub client_id: String,
    pub request_timeout_ms: u32,
    pub delivery_timeout_ms: u32,
    pub retry_backoff_ms: u32,
    pub retries: u32,
    pub linger_ms: u32,
    pub socket_timeout_ms: u32,
    /// How long a send waits for room in a full local queue (not a librdkafka property).
    pub max_block_ms: u32,
    /// How much the producers' librdkafka threads are niced (see `thread_nice`).
    pub producer_nice: u8,
    /// `statistics.interval.ms` of the producers (0: off), feeding `/metrics`.
    pub statistics_interval_ms: u32,
    /// Security properties (protocol, SASL, CA), set before `extra`.
    pub security: Vec<(String, String)>,
    pub sasl_password: Option<Secret>,
    /// `KAFKA_PROPERTIES`: applied last, so they can override anything.
    pub extra: Vec<(String, String)>,
}

impl KafkaSettings {
    pub fn new(config: &Config, bootstrap_servers: String) -> Self {
        Self {
            bootstrap_servers,
            client_id: config.client_id(),
            request_timeout_ms: config.kafka_request_timeout_ms,
            delivery_timeout_ms: config.kafka_delivery_timeout_ms,
            retry_backoff_ms: config.kafka_retry_backoff_ms,
            retries: config.kafka_retries,
            linger_ms: config.kafka_linger_ms,
            socket_timeout_ms: config.kafka_socket_timeout_ms,
            max_block_ms: config.kafka_max_block_ms,
            producer_nice: config.kafka_producer_nice,
            statistics_interval_ms: 5000,
            security: [
                ("security.protocol", &config.kafka_security_protocol),
                ("sasl.mechanism", &config.kafka_sasl_mechanism),
                ("sasl.username", &config.kafka_sasl_username),
                ("ssl.ca.location", &config.kafka_ssl_ca_location),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), v.clone())))
            .collect(),
            sasl_password: config.kafka_sasl_password.clone(),
            extra: config.kafka_properties.clone().map(|p| p.0).unwrap_or_default(),
        }
    }

    /// Connection properties shared by producers, the admin client and the verifier's consumer.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", &self.client_id)
            .set("socket.timeout.ms", self.socket_timeout_ms.to_string())
            // librdkafka doubles the wait between connection attempts up to 10 s by default: a
            // broker restarted twice in a few seconds was then reached again up to 6 s after it
            // answered (measured in tests/broker_loss.rs). A connection attempt costs little.
            .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS);
        for (k, v) in &self.security {
            c.set(k, v);
        }
        if let Some(password) = &self.sasl_password {
            c.set("sasl.password", password.expose());
        }
        self.apply_extra(&mut c);
        c
    }

    /// `KAFKA_PROPERTIES` win over everything else (applied after each client's own settings).
    fn apply_extra(&self, c: &mut ClientConfig) {
        for (k, v) in &self.extra {
            c.set(k, v);
        }
    }

    /// The producer for `mode`: plain is `acks=1` without idempotence; idempotent is
    /// `enable.idempotence=true`, `acks=all`, at most 5 requests in flight (the seed's settings).
    pub fn producer_config(&self, mode: ProducerMode) -> ClientConfig {
        let mut c = self.client_config();
        c.set("request.timeout.ms", self.request_timeout_ms.to_string())
            .set("message.timeout.ms", self.delivery_timeout_ms.to_string())
            .set("retry.backoff.ms", self.retry_backoff_ms.to_string())
            .set("message.send.max.retries", self.retries.to_string())
            .set("linger.ms", self.linger_ms.to_string());
        if self.statistics_interval_ms > 0 {
            c.set("statistics.interval.ms", self.statistics_interval_ms.to_string());
        }
        match mode {
            ProducerMode::Plain => {
                c.set("enable.idempotence", "false").set("acks", "1");
            }
            ProducerMode::Idempotent => {
                c.set("enable.idempotence", "true")
                    .set("acks", "all")
                    .set("max.in.flight.requests.per.connection", "5");
                // The stall watch (`health`) reads the statistics every second, and librdkafka's
                // EOS lines name what the broker refused (few: state changes and refusals).
                if self.statistics_interval_ms > 0 {
                    c.set("statistics.interval.ms", IDEMPOTENT_STATS_MS.min(self.statistics_interval_ms).to_string());
                }
                c.set("debug", "eos").set_log_level(RDKafkaLogLevel::Debug);
            }
        }
        self.apply_extra(&mut c);
        c
    }

    /// The largest record value the producers take: their `message.max.bytes` when
    /// `KAFKA_PROPERTIES` sets it, else librdkafka's default.
    pub fn max_value_bytes(&self) -> usize {
        let set = self.extra.iter().rev().find(|(k, _)| k == "message.max.bytes");
        set.and_then(|(_, v)| v.trim().parse().ok()).unwrap_or(crate::model::DEFAULT_MAX_VALUE_BYTES)
    }

    /// The settings a person needs to read a result: what the producer for `mode` ran with.
    pub fn describe(&self, mode: ProducerMode) -> Vec<(String, String)> {
        self.producer_config(mode)
            .config_map()
            .into_iter()
            .filter(|(k, _)| !matches!(*k, "bootstrap.servers" | "client.id" | "statistics.interval.ms" | "debug"))
            .map(|(k, v)| {
                let secret = SECRET_MARKERS.iter().any(|m| k.contains(m));
                (k.to_owned(), if secret { "***".to_owned() } else { v.to_owned() })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::producer::{BaseProducer, Producer};

    fn secured() -> KafkaSettings {
        let mut config = Config::defaults();
        config.kafka_security_protocol = Some("sasl_ssl".into());
        config.kafka_sasl_mechanism = Some("SCRAM-SHA-512".into());
        config.kafka_sasl_username = Some("producer".into());
        config.kafka_sasl_password = "pw-secret".parse().ok();
        config.kafka_ssl_ca_location = Some("probe".into());
        KafkaSettings::new(&config, "kafka1:9093".into())
    }

    /// librdkafka refuses `sasl_ssl` and SCRAM at creation when it was built without OpenSSL or
    /// SASL: this fails if the build loses them.
    #[test]
    fn tls_and_scram_settings_reach_a_producer_librdkafka_accepts() {
        let settings = secured();
        for mode in ProducerMode::ALL {
            let config = settings.producer_config(mode);
            assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
            assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
            assert_eq!(config.get("sasl.password"), Some("pw-secret"));
            let producer: Result<BaseProducer, _> = config.create();
            match producer {
                Ok(p) => drop(p.in_flight_count()),
                Err(e) => panic!("librdkafka refused TLS/SASL settings for {mode}: {e}"),
            }
        }
    }

    #[test]
    fn described_settings_hide_the_password() {
        let described = secured().describe(ProducerMode::Idempotent);
        assert!(described.iter().any(|(k, v)| k == "sasl.password" && v == "***"));
        assert!(described.iter().all(|(_, v)| !v.contains("pw-secret")));
    }
}
