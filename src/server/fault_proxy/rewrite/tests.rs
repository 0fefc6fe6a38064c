//! Unit tests of the rewriting: recorded-style multi-broker responses built with
//! kafka-protocol's types, encoded at several versions, rewritten, decoded again.

use super::*;
use bytes::Bytes;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{BrokerId, TopicName};
use parking_lot::Mutex;
use std::collections::BTreeMap;

const REAL: [(i32, &str, i32); 3] =
    [(1, "kafka-1.internal", 9092), (2, "kafka-2.internal", 9093), (3, "10.9.8.7", 9094)];

/// Gives node `n` the proxy port 41000 + n, and records what it was asked.
#[derive(Default)]
struct FakeListeners(Mutex<BTreeMap<i32, (String, i32)>>);

impl NodeListeners for FakeListeners {
    fn listener_for(&self, node_id: i32, host: &str, port: i32) -> io::Result<(String, i32)> {
        if node_id < 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no node id"));
        }
        self.0.lock().insert(node_id, (host.to_owned(), port));
        Ok(("127.0.0.1".to_owned(), 41000 + node_id))
    }
}

fn is_proxy(node_id: i32, host: &str, port: i32) -> bool {
    host == "127.0.0.1" && port == 41000 + node_id
}

fn no_real_host_in(frame: &[u8]) {
    for (_, host, _) in REAL {
        assert!(!frame.windows(host.len()).any(|w| w == host.as_bytes()), "{host} leaked");
    }
}

fn metadata(version: i16) -> MetadataResponse {
    let brokers = REAL
        .iter()
        .map(|(id, host, port)| {
            let rack = (version >= 1).then(|| StrBytes::from_static_str("rack-a"));
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(*id))
                .with_host(StrBytes::from_static_str(host))
                .with_port(*port)
                .with_rack(rack)
        })
        .collect();
    let partitions = (0..3)
        .map(|i| {
            MetadataResponsePartition::default()
                .with_partition_index(i)
                .with_leader_id(BrokerId(i + 1))
                .with_replica_nodes(vec![BrokerId(1), BrokerId(2), BrokerId(3)])
                .with_isr_nodes(vec![BrokerId(1), BrokerId(2), BrokerId(3)])
        })
        .collect();
    let topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_static_str("events"))))
        .with_partitions(partitions);
    let m = MetadataResponse::default().with_brokers(brokers).with_topics(vec![topic]);
    let m = if version >= 1 { m.with_controller_id(BrokerId(2)) } else { m };
    if version >= 2 {
        m.with_cluster_id(Some(StrBytes::from_static_str("cluster-x")))
    } else {
        m
    }
}

fn header(correlation_id: i32) -> ResponseHeader {
    ResponseHeader::default().with_correlation_id(correlation_id)
}

#[test]
fn metadata_every_broker_address_becomes_a_proxy_listener() {
    for version in [0, 1, 9, 12, 13] {
        let input = encode_response(ApiKey::Metadata, version, &header(77), &metadata(version)).expect("encode");
        let nodes = FakeListeners::default();
        let out = rewrite_response(ApiKey::Metadata as i16, version, &input, &nodes).expect("rewrite").expect("some");
        no_real_host_in(&out);
        let (h, m) = decode_response::<MetadataResponse>(ApiKey::Metadata, version, &out).expect("decode");
        assert_eq!(h.correlation_id, 77);
        let ids: Vec<i32> = m.brokers.iter().map(|b| b.node_id.0).collect();
        assert_eq!(ids, vec![1, 2, 3], "v{version}");
        assert!(m.brokers.iter().all(|b| is_proxy(b.node_id.0, &b.host, b.port)), "v{version}");
        assert_eq!(m.topics[0].partitions[2].leader_id.0, 3);
        let asked: Vec<(String, i32)> = nodes.0.lock().values().cloned().collect();
        let real: Vec<(String, i32)> = REAL.iter().map(|(_, h, p)| (h.to_string(), *p)).collect();
        assert_eq!(asked, real, "the real addresses become the upstreams");
    }
}

#[test]
fn find_coordinator_v3_and_v4_are_rewritten() {
    let v3 = FindCoordinatorResponse::default()
        .with_node_id(BrokerId(2))
        .with_host(StrBytes::from_static_str(REAL[1].1))
        .with_port(REAL[1].2);
    let coordinators = REAL
        .iter()
        .map(|(id, host, port)| {
            Coordinator::default()
                .with_key(StrBytes::from_string(format!("group-{id}")))
                .with_node_id(BrokerId(*id))
                .with_host(StrBytes::from_static_str(host))
                .with_port(*port)
        })
        .collect();
    let v4 = FindCoordinatorResponse::default().with_coordinators(coordinators);
    for (version, message) in [(3, v3), (4, v4)] {
        let input = encode_response(ApiKey::FindCoordinator, version, &header(5), &message).expect("encode");
        let out = rewrite_response(ApiKey::FindCoordinator as i16, version, &input, &FakeListeners::default())
            .expect("rewrite")
            .expect("some");
        no_real_host_in(&out);
        let (_, m) =
            decode_response::<FindCoordinatorResponse>(ApiKey::FindCoordinator, version, &out).expect("decode");
        if version < 4 {
            assert!(is_proxy(2, &m.host, m.port));
        } else {
            assert_eq!(m.coordinators.len(), 3);
            assert!(m.coordinators.iter().all(|c| is_proxy(c.node_id.0, &c.host, c.port)));
        }
    }
}

#[test]
fn coordinator_not_available_is_left_alone() {
    let m = FindCoordinatorResponse::default().with_error_code(15).with_host(StrBytes::new()).with_port(-1);
    let input = encode_response(ApiKey::FindCoordinator, 3, &header(1), &m).expect("encode");
    let out = rewrite_response(ApiKey::FindCoordinator as i16, 3, &input, &FakeListeners::default())
        .expect("rewrite")
        .expect("some");
    assert_eq!(out, input);
}

#[test]
fn describe_cluster_brokers_are_rewritten() {
    let brokers = REAL
        .iter()
        .map(|(id, host, port)| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(*id))
                .with_host(StrBytes::from_static_str(host))
                .with_port(*port)
        })
        .collect();
    let m = DescribeClusterResponse::default().with_brokers(brokers);
    let input = encode_response(ApiKey::DescribeCluster, 1, &header(3), &m).expect("encode");
    let out = rewrite_response(ApiKey::DescribeCluster as i16, 1, &input, &FakeListeners::default())
        .expect("rewrite")
        .expect("some");
    no_real_host_in(&out);
    let (_, m) = decode_response::<DescribeClusterResponse>(ApiKey::DescribeCluster, 1, &out).expect("decode");
    assert!(m.brokers.iter().all(|b| is_proxy(b.broker_id.0, &b.host, b.port)));
}

#[test]
fn other_responses_pass_untouched() {
    let nodes = FakeListeners::default();
    assert!(rewrite_response(ApiKey::Produce as i16, 9, &[0, 0, 0, 4, 0, 0, 0, 1], &nodes).expect("ok").is_none());
}

fn version(key: i16, min: i16, max: i16) -> ApiVersion {
    ApiVersion::default().with_api_key(key).with_min_version(min).with_max_version(max)
}

#[test]
fn api_versions_are_capped() {
    let offered = vec![
        version(0, 0, 11),  // Produce: KIP-951 endpoints from v10
        version(1, 4, 17),  // Fetch: leader tags from v12
        version(3, 0, 14),  // Metadata: newer than kafka-protocol decodes
        version(10, 0, 6),  // FindCoordinator
        version(18, 0, 4),  // ApiVersions
        version(55, 0, 2),  // DescribeQuorum: nodes from v2
        version(78, 1, 1),  // ShareFetch: always carries endpoints
        version(900, 0, 1), // unknown to kafka-protocol
    ];
    let m = ApiVersionsResponse::default().with_api_keys(offered);
    let input = encode_response(ApiKey::ApiVersions, 3, &header(9), &m).expect("encode");
    let out = rewrite_response(ApiKey::ApiVersions as i16, 3, &input, &FakeListeners::default())
        .expect("rewrite")
        .expect("some");
    let (h, m) = decode_response::<ApiVersionsResponse>(ApiKey::ApiVersions, 3, &out).expect("decode");
    assert_eq!(h.correlation_id, 9);
    let got: Vec<(i16, i16, i16)> = m.api_keys.iter().map(|v| (v.api_key, v.min_version, v.max_version)).collect();
    assert_eq!(got, vec![(0, 0, 9), (1, 4, 11), (3, 0, 13), (10, 0, 6), (18, 0, 4), (55, 0, 1)]);
}

#[test]
fn api_versions_unsupported_answer_is_v0_and_decodes() {
    let frame = api_versions_unsupported(12).expect("encode");
    // A broker's own UNSUPPORTED_VERSION answer is a v0 body even for a v3 request.
    let out = rewrite_api_versions(3, &frame).expect("rewrite");
    let (h, m) = decode_response::<ApiVersionsResponse>(ApiKey::ApiVersions, 0, &out).expect("decode");
    assert_eq!((h.correlation_id, m.error_code), (12, UNSUPPORTED_VERSION));
    assert_eq!(m.api_keys[0].max_version, 4);
}

#[test]
fn request_policies() {
    assert_eq!(request_policy(0, 9), RequestPolicy::Forward);
    assert_eq!(request_policy(0, 10), RequestPolicy::Refuse);
    assert_eq!(request_policy(1, 11), RequestPolicy::Forward);
    assert_eq!(request_policy(1, 12), RequestPolicy::Refuse);
    assert_eq!(request_policy(3, 12), RequestPolicy::Rewrite);
    assert_eq!(request_policy(3, 14), RequestPolicy::Refuse);
    assert_eq!(request_policy(18, 3), RequestPolicy::Rewrite);
    assert_eq!(request_policy(18, 5), RequestPolicy::AnswerUnsupportedApiVersions);
    assert_eq!(request_policy(900, 0), RequestPolicy::Refuse);
}

fn produce_request_frame(version: i16, correlation_id: i32) -> Vec<u8> {
    let topics = ["a", "b"]
        .iter()
        .map(|name| {
            let partitions = (0..3)
                .map(|i| PartitionProduceData::default().with_index(i).with_records(Some(Bytes::from_static(b"x"))))
                .collect();
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(name)))
                .with_partition_data(partitions)
        })
        .collect();
    let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(30000).with_topic_data(topics);
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("test")));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header.encode(&mut buf, ApiKey::Produce.request_header_version(version)).expect("header");
    request.encode(&mut buf, version).expect("request");
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.to_vec()
}

#[test]
fn produce_error_response_answers_every_partition() {
    for (version, code) in [(3, NOT_LEADER_OR_FOLLOWER), (7, REQUEST_TIMED_OUT), (9, NOT_LEADER_OR_FOLLOWER)] {
        let frame = produce_request_frame(version, 4242);
        let out = produce_error_response(&frame, code).expect("response");
        let (h, m) = decode_response::<ProduceResponse>(ApiKey::Produce, version, &out).expect("decode");
        assert_eq!(h.correlation_id, 4242);
        let names: Vec<&str> = m.responses.iter().map(|t| t.name.0.as_str()).collect();
        assert_eq!(names, vec!["a", "b"], "v{version}");
        for t in &m.responses {
            let idx: Vec<i32> = t.partition_responses.iter().map(|p| p.index).collect();
            assert_eq!(idx, vec![0, 1, 2]);
            assert!(t.partition_responses.iter().all(|p| p.error_code == code && p.base_offset == -1));
        }
    }
}

#[test]
fn produce_error_response_refuses_other_apis() {
    let mut frame = produce_request_frame(9, 1);
    frame[5] = 3; // api key 3: Metadata
    assert!(produce_error_response(&frame, 6).is_err());
    assert!(produce_error_response(&[0, 0, 0, 1, 0], 6).is_err());
}
