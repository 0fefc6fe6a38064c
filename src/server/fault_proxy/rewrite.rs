//! Pure Kafka message work for the fault proxy (no I/O): request/response prefixes, which
//! requests the proxy lets through, rewriting every broker address the cluster tells a client
//! (Metadata, FindCoordinator, DescribeCluster) to a proxy listener, capping ApiVersions so
//! that no response the proxy cannot rewrite is ever negotiated, and building the Produce error
//! responses the proxy answers by itself. A frame is always the whole thing, `int32 size` first.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, DescribeClusterResponse, FindCoordinatorResponse, MetadataResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::io;

pub use super::inflight::{Action, InFlight, Pending};

/// Kafka error code of an ApiVersions request newer than the broker supports.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// Retriable Produce error codes the proxy may answer with.
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
pub const REQUEST_TIMED_OUT: i16 = 7;
/// DescribeCluster `endpoint_type` for controllers (KIP-919): not proxied.
const CONTROLLER_ENDPOINTS: i8 = 2;

/// Supplies the proxy address (host, port) a client must use for a cluster node, binding a
/// listener for it on demand. Called with the node's real address, which becomes its upstream.
pub trait NodeListeners {
    fn listener_for(&self, node_id: i32, host: &str, port: i32) -> io::Result<(String, i32)>;
}

/// The fixed prefix of a request body: `int16 api_key, int16 api_version, int32 correlation_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPrefix {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

pub fn request_prefix(frame: &[u8]) -> Option<RequestPrefix> {
    let b = frame.get(4..12)?;
    Some(RequestPrefix {
        api_key: i16::from_be_bytes([b[0], b[1]]),
        api_version: i16::from_be_bytes([b[2], b[3]]),
        correlation_id: i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    })
}

/// The correlation id that starts every response body.
pub fn response_correlation_id(frame: &[u8]) -> Option<i32> {
    let b = frame.get(4..8)?;
    Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// What the proxy does with a request, by its api key and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPolicy {
    /// Forward; the response goes back as bytes.
    Forward,
    /// Forward; the response must be decoded and rewritten.
    Rewrite,
    /// ApiVersions newer than the proxy can decode: answer UNSUPPORTED_VERSION (v0), as a
    /// broker does, so the client retries with a version the proxy knows.
    AnswerUnsupportedApiVersions,
    /// Unknown api key, or a version whose response could carry addresses the proxy does not
    /// rewrite (a client that ignored the capped ApiVersions): close the connection.
    Refuse,
}

pub fn request_policy(api_key: i16, api_version: i16) -> RequestPolicy {
    let Ok(key) = ApiKey::try_from(api_key) else {
        return RequestPolicy::Refuse;
    };
    let allowed = version_cap(key).is_some_and(|max| api_version <= max);
    match (key, allowed) {
        (ApiKey::ApiVersions, true) => RequestPolicy::Rewrite,
        (ApiKey::ApiVersions, false) => RequestPolicy::AnswerUnsupportedApiVersions,
        (_, false) => RequestPolicy::Refuse,
        (k, true) if needs_rewrite(k) => RequestPolicy::Rewrite,
        (_, true) => RequestPolicy::Forward,
    }
}

fn needs_rewrite(key: ApiKey) -> bool {
    matches!(key, ApiKey::Metadata | ApiKey::FindCoordinator | ApiKey::DescribeCluster | ApiKey::ApiVersions)
}

/// The highest version of `key` a client may use through the proxy, `None` for none at all.
/// Every API is capped at what kafka-protocol knows (so the table below is complete and the
/// rewritten responses can be decoded), and below the first version whose response carries
/// broker endpoints the proxy does not rewrite (KIP-951 NodeEndpoints, Raft/quorum endpoints).
/// Fetch stops before its first flexible version (v12): a broker may put KIP-951 leader tags in
/// any flexible Fetch response (Tansu does, with NodeEndpoints, when asked for a topic it no
/// longer has), and librdkafka 2.12 turns those into a metadata update that dereferences a NULL
/// topic name and crashes the whole process (`rd_kafka_metadata_update_op`).
pub fn version_cap(key: ApiKey) -> Option<i16> {
    let known = key.valid_versions().max;
    let first_with_endpoints = match key {
        ApiKey::Produce => 10,
        ApiKey::Fetch => 12,
        ApiKey::DescribeQuorum => 2,
        ApiKey::Vote | ApiKey::BeginQuorumEpoch | ApiKey::EndQuorumEpoch | ApiKey::FetchSnapshot => 1,
        ApiKey::ShareFetch | ApiKey::ShareAcknowledge | ApiKey::UpdateRaftVoter => 0,
        _ => i16::MAX,
    };
    let max = known.min(first_with_endpoints.saturating_sub(1));
    (max >= 0).then_some(max)
}

/// Caps the versions a broker offers (see [`version_cap`]); drops the APIs left with no
/// version and the api keys kafka-protocol does not know.
pub fn cap_api_versions(keys: &mut Vec<ApiVersion>) {
    keys.retain_mut(|entry| {
        let cap = ApiKey::try_from(entry.api_key).ok().and_then(version_cap);
        match cap {
            Some(max) if max >= entry.min_version => {
                if entry.max_version > max {
                    tracing::debug!(api_key = entry.api_key, from = entry.max_version, to = max, "capped");
                    entry.max_version = max;
                }
                true
            }
            _ => {
                tracing::debug!(api_key = entry.api_key, "api hidden from clients");
                false
            }
        }
    });
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn decode_response<M: Decodable>(key: ApiKey, version: i16, frame: &[u8]) -> io::Result<(ResponseHeader, M)> {
    let mut body = frame.get(4..).ok_or_else(|| invalid("short frame"))?;
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version)).map_err(invalid)?;
    let message = M::decode(&mut body, version).map_err(|e| invalid(format!("{key:?} v{version}: {e}")))?;
    if !body.is_empty() {
        // Seen from librdkafka's mock cluster (Metadata v12). Not re-encoded: nothing unknown
        // reaches the client.
        tracing::debug!(?key, version, left = body.len(), "bytes after the decoded response dropped");
    }
    Ok((header, message))
}

/// Encodes header and message (at the api's response header version) into a sized frame.
pub fn encode_response<M: Encodable>(
    key: ApiKey,
    version: i16,
    header: &ResponseHeader,
    message: &M,
) -> io::Result<Vec<u8>> {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    header.encode(&mut buf, key.response_header_version(version)).map_err(invalid)?;
    message.encode(&mut buf, version).map_err(|e| invalid(format!("{key:?} v{version}: {e}")))?;
    let size = i32::try_from(buf.len() - 4).map_err(invalid)?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.to_vec())
}

/// Rewrites a response that needs it; `Ok(None)`: pass the frame on unchanged. An error means
/// the response cannot be made safe and the connection must be closed.
pub fn rewrite_response(
    api_key: i16,
    version: i16,
    frame: &[u8],
    nodes: &dyn NodeListeners,
) -> io::Result<Option<Vec<u8>>> {
    let key = ApiKey::try_from(api_key).map_err(|_| invalid(format!("unknown api key {api_key}")))?;
    let out = match key {
        ApiKey::Metadata => rewrite_metadata(version, frame, nodes)?,
        ApiKey::FindCoordinator => rewrite_find_coordinator(version, frame, nodes)?,
        ApiKey::DescribeCluster => rewrite_describe_cluster(version, frame, nodes)?,
        ApiKey::ApiVersions => rewrite_api_versions(version, frame)?,
        _ => return Ok(None),
    };
    Ok(Some(out))
}

/// Points one advertised address at its proxy listener (an empty host is no address).
fn rewrite_address(nodes: &dyn NodeListeners, node_id: i32, host: &mut StrBytes, port: &mut i32) -> io::Result<()> {
    if host.is_empty() {
        return Ok(());
    }
    let (proxy_host, proxy_port) = nodes.listener_for(node_id, host, *port)?;
    *host = StrBytes::from_string(proxy_host);
    *port = proxy_port;
    Ok(())
}

fn rewrite_metadata(version: i16, frame: &[u8], nodes: &dyn NodeListeners) -> io::Result<Vec<u8>> {
    let (header, mut m) = decode_response::<MetadataResponse>(ApiKey::Metadata, version, frame)?;
    for b in &mut m.brokers {
        rewrite_address(nodes, b.node_id.0, &mut b.host, &mut b.port)?;
    }
    encode_response(ApiKey::Metadata, version, &header, &m)
}

fn rewrite_find_coordinator(version: i16, frame: &[u8], nodes: &dyn NodeListeners) -> io::Result<Vec<u8>> {
    let (header, mut m) = decode_response::<FindCoordinatorResponse>(ApiKey::FindCoordinator, version, frame)?;
    rewrite_address(nodes, m.node_id.0, &mut m.host, &mut m.port)?;
    for c in &mut m.coordinators {
        rewrite_address(nodes, c.node_id.0, &mut c.host, &mut c.port)?;
    }
    encode_response(ApiKey::FindCoordinator, version, &header, &m)
}

fn rewrite_describe_cluster(version: i16, frame: &[u8], nodes: &dyn NodeListeners) -> io::Result<Vec<u8>> {
    let (header, mut m) = decode_response::<DescribeClusterResponse>(ApiKey::DescribeCluster, version, frame)?;
    if m.endpoint_type == CONTROLLER_ENDPOINTS && !m.brokers.is_empty() {
        return Err(invalid("DescribeCluster listed controller endpoints, which the proxy does not front"));
    }
    for b in &mut m.brokers {
        rewrite_address(nodes, b.broker_id.0, &mut b.host, &mut b.port)?;
    }
    encode_response(ApiKey::DescribeCluster, version, &header, &m)
}

/// Caps an ApiVersions response. Its header is always v0. A broker that does not support the
/// request's version answers UNSUPPORTED_VERSION in a v0 body (Apache Kafka) or in a body of
/// its own making (librdkafka's mock cluster): that answer only tells the client which
/// ApiVersions version to retry with and carries no address, so when it is not a v0 body it
/// is passed on as it is.
pub fn rewrite_api_versions(version: i16, frame: &[u8]) -> io::Result<Vec<u8>> {
    let error_code = frame.get(8..10).map(|b| i16::from_be_bytes([b[0], b[1]]));
    if error_code == Some(UNSUPPORTED_VERSION) {
        return Ok(match decode_response::<ApiVersionsResponse>(ApiKey::ApiVersions, 0, frame) {
            Ok((header, mut m)) => {
                cap_api_versions(&mut m.api_keys);
                encode_response(ApiKey::ApiVersions, 0, &header, &m)?
            }
            Err(_) => frame.to_vec(),
        });
    }
    let (header, mut m) = decode_response::<ApiVersionsResponse>(ApiKey::ApiVersions, version, frame)?;
    cap_api_versions(&mut m.api_keys);
    encode_response(ApiKey::ApiVersions, version, &header, &m)
}

/// The proxy's own answer to an ApiVersions request it cannot decode the response of.
pub fn api_versions_unsupported(correlation_id: i32) -> io::Result<Vec<u8>> {
    let known = ApiKey::ApiVersions.valid_versions();
    let entry = ApiVersion::default()
        .with_api_key(ApiKey::ApiVersions as i16)
        .with_min_version(known.min)
        .with_max_version(known.max);
    let m = ApiVersionsResponse::default().with_error_code(UNSUPPORTED_VERSION).with_api_keys(vec![entry]);
    encode_response(ApiKey::ApiVersions, 0, &ResponseHeader::default().with_correlation_id(correlation_id), &m)
}

/// Decodes a Produce request frame (header and body).
pub fn decode_produce_request(frame: &[u8]) -> io::Result<(RequestHeader, ProduceRequest)> {
    let prefix = request_prefix(frame).ok_or_else(|| invalid("short frame"))?;
    if prefix.api_key != ApiKey::Produce as i16 {
        return Err(invalid(format!("api key {} is not Produce", prefix.api_key)));
    }
    let version = prefix.api_version;
    let mut body = frame.get(4..).ok_or_else(|| invalid("short frame"))?;
    let header = RequestHeader::decode(&mut body, ApiKey::Produce.request_header_version(version)).map_err(invalid)?;
    let request =
        ProduceRequest::decode(&mut body, version).map_err(|e| invalid(format!("Produce v{version}: {e}")))?;
    Ok((header, request))
}

/// The ProduceResponse (same version and correlation id) that answers every topic-partition
/// of `request` with `error_code` and base offset -1, so that the client retries.
pub fn produce_error_for(header: &RequestHeader, request: &ProduceRequest, error_code: i16) -> io::Result<Vec<u8>> {
    let version = header.request_api_version;
    let message = (version >= 8).then(|| StrBytes::from_static_str("injected by the fault proxy"));
    let responses = request
        .topic_data
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_data
                .iter()
                .map(|p| {
                    PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(error_code)
                        .with_base_offset(-1)
                        .with_error_message(message.clone())
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partitions)
        })
        .collect();
    let response = ProduceResponse::default().with_responses(responses);
    let out_header = ResponseHeader::default().with_correlation_id(header.correlation_id);
    encode_response(ApiKey::Produce, version, &out_header, &response)
}

/// [`decode_produce_request`] then [`produce_error_for`].
pub fn produce_error_response(request_frame: &[u8], error_code: i16) -> io::Result<Vec<u8>> {
    let (header, request) = decode_produce_request(request_frame)?;
    produce_error_for(&header, &request, error_code)
}

#[cfg(test)]
mod tests;
