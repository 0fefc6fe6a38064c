//! The settings as the seed's users know them: defaults, secrets, properties, errors.

use super::*;

fn parse(args: &[&str]) -> Result<Config, clap::Error> {
    Config::try_parse_from(std::iter::once("producer-reliability").chain(args.iter().copied()))
}

#[test]
fn seed_defaults_hold() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.kafka_request_timeout_ms, 1000);
    assert_eq!(c.kafka_delivery_timeout_ms, 120_000);
    assert_eq!(c.kafka_retry_backoff_ms, 100);
    assert_eq!(c.kafka_retries, 10);
    assert_eq!(c.kafka_linger_ms, 0);
    assert_eq!(c.kafka_socket_timeout_ms, 60_000);
    assert_eq!(c.kafka_max_block_ms, 5000);
    assert_eq!(c.kafka_producer_nice, 10);
    assert!(parse(&["--kafka-producer-nice", "20"]).is_err(), "a nice value is at most 19");
    assert_eq!(c.kafka_default_topic, "bhf-transactions");
    assert_eq!(c.kafka_topic_partitions, 3);
    assert_eq!(c.site_addr.to_string(), "127.0.0.1:3000");
    assert!(c.client_id().starts_with("producer-reliability-"));
}

#[test]
fn secrets_never_print() {
    let c = parse(&["--api-token", "hunter2", "--kafka-sasl-password", "s3cret"]).unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("s3cret"), "{shown}");
    assert_eq!(c.api_token.unwrap().expose(), "hunter2");
}

#[test]
fn extra_properties_parse_as_pairs() {
    let c = parse(&["--kafka-properties", "compression.type=zstd,batch.size=65536"]).unwrap();
    assert_eq!(
        c.kafka_properties.unwrap().0,
        vec![("compression.type".into(), "zstd".into()), ("batch.size".into(), "65536".into())]
    );
    let c = parse(&["--kafka-properties", "debug=broker,msg,linger.ms=5"]).unwrap();
    assert_eq!(
        c.kafka_properties.unwrap().0,
        vec![("debug".into(), "broker,msg".into()), ("linger.ms".into(), "5".into())]
    );
    let c = parse(&["--allowed-topics", "orders-*, bhf-transactions"]).unwrap();
    assert_eq!(c.allowed_topic_patterns().unwrap(), vec!["orders-*", "bhf-transactions"]);
}

#[test]
fn empty_bootstrap_means_embedded() {
    assert_eq!(parse(&["--kafka-bootstrap-servers", " "]).unwrap().external_bootstrap(), None);
    let c = parse(&["--kafka-bootstrap-servers", "k:9092"]).unwrap();
    assert_eq!(c.external_bootstrap(), Some("k:9092"));
}

#[test]
fn bad_numbers_name_the_variable() {
    for (flag, value, var) in [
        ("--kafka-request-timeout-ms", "abc", "KAFKA_REQUEST_TIMEOUT_MS"),
        ("--kafka-retries", "-1", "KAFKA_RETRIES"),
        ("--kafka-topic-partitions", "0", "KAFKA_TOPIC_PARTITIONS"),
        ("--status-store-capacity", "0", "STATUS_STORE_CAPACITY"),
        ("--kafka-properties", "linger.ms", "KAFKA_PROPERTIES"),
    ] {
        let arg = format!("{flag}={value}");
        let err = parse(&[&arg]).unwrap_err().to_string();
        assert!(err.contains(var), "{flag}={value}: {err}");
    }
}
