//! The fault proxy's relay against a scripted fake broker, with raw Kafka frames: the proxy's own answers
//! keep request order, requests it cannot make safe close the connection, BrokerUnavailable
//! cuts and refuses connections, and the shutdown token stops everything.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use producer_reliability::server::fault_proxy::rewrite::{api_versions_unsupported, UNSUPPORTED_VERSION};
use producer_reliability::server::fault_proxy::{ActiveFault, FaultProxy};
use producer_reliability::server::shutdown::Shutdown;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A broker that answers every request after `delay` with its correlation id and 4 bytes.
async fn fake_broker(delay: Duration) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                while let Ok(frame) = read_frame(&mut s).await {
                    tokio::time::sleep(delay).await;
                    let mut out = vec![0, 0, 0, 8];
                    out.extend_from_slice(&frame[8..12]);
                    out.extend_from_slice(&[0, 0, 0, 0]);
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

async fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let size = s.read_i32().await?;
    let mut frame = size.to_be_bytes().to_vec();
    frame.resize(4 + size.max(0) as usize, 0);
    s.read_exact(&mut frame[4..]).await?;
    Ok(frame)
}

fn request(api_key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 8];
    f.extend_from_slice(&api_key.to_be_bytes());
    f.extend_from_slice(&version.to_be_bytes());
    f.extend_from_slice(&correlation_id.to_be_bytes());
    f
}

fn produce(version: i16, correlation_id: i32) -> anyhow::Result<Vec<u8>> {
    let partition = PartitionProduceData::default().with_index(0).with_records(None);
    let topic = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_static_str("t")))
        .with_partition_data(vec![partition]);
    let body = ProduceRequest::default().with_acks(1).with_timeout_ms(1000).with_topic_data(vec![topic]);
    let header = RequestHeader::default()
        .with_request_api_key(0)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id);
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header.encode(&mut buf, ApiKey::Produce.request_header_version(version))?;
    body.encode(&mut buf, version)?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.to_vec())
}

fn correlation(frame: &[u8]) -> i32 {
    i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]])
}

#[tokio::test]
async fn own_answers_keep_request_order() -> anyhow::Result<()> {
    let token = Shutdown::new();
    let proxy = FaultProxy::start(&fake_broker(Duration::from_millis(200)).await?, &token)?;
    proxy.set_fault(ActiveFault::ProduceError { remaining: 1, error_code: 6 });
    let mut c = TcpStream::connect(proxy.bootstrap()).await?;
    c.write_all(&request(12, 0, 1)).await?; // Heartbeat: forwarded, answered in 200 ms
    c.write_all(&produce(9, 2)?).await?; // answered by the proxy, but after 1
    c.write_all(&request(18, 9, 3)).await?; // ApiVersions v9: answered by the proxy too
    let first = read_frame(&mut c).await?;
    let second = read_frame(&mut c).await?;
    let third = read_frame(&mut c).await?;
    assert_eq!([correlation(&first), correlation(&second), correlation(&third)], [1, 2, 3]);
    let mut body = &second[4..];
    ResponseHeader::decode(&mut body, ApiKey::Produce.response_header_version(9))?;
    let response = ProduceResponse::decode(&mut body, 9)?;
    assert_eq!(response.responses[0].partition_responses[0].error_code, 6);
    assert_eq!(third, api_versions_unsupported(3)?);
    assert_eq!(i16::from_be_bytes([third[8], third[9]]), UNSUPPORTED_VERSION);
    assert_eq!(proxy.counters().snapshot().produce_errors, 1);
    token.stop_all(Duration::from_secs(5)).await;
    Ok(())
}

#[tokio::test]
async fn unsafe_requests_close_the_connection() -> anyhow::Result<()> {
    let token = Shutdown::new();
    let proxy = FaultProxy::start(&fake_broker(Duration::ZERO).await?, &token)?;
    for (api_key, version) in [(0, 10), (1, 16), (3, 14), (78, 1), (999, 0)] {
        let mut c = TcpStream::connect(proxy.bootstrap()).await?;
        c.write_all(&request(api_key, version, 1)).await?;
        assert!(read_frame(&mut c).await.is_err(), "api {api_key} v{version} was let through");
    }
    assert_eq!(proxy.counters().snapshot().refused_requests, 5);
    token.stop_all(Duration::from_secs(5)).await;
    Ok(())
}

#[tokio::test]
async fn broker_unavailable_cuts_and_refuses() -> anyhow::Result<()> {
    let token = Shutdown::new();
    let proxy = FaultProxy::start(&fake_broker(Duration::ZERO).await?, &token)?;
    let mut open = TcpStream::connect(proxy.bootstrap()).await?;
    open.write_all(&request(12, 0, 1)).await?;
    read_frame(&mut open).await?;
    proxy.set_fault(ActiveFault::BrokerUnavailable { until: Instant::now() + Duration::from_millis(300) });
    assert!(read_frame(&mut open).await.is_err(), "the open connection was closed");
    let mut refused = TcpStream::connect(proxy.bootstrap()).await?;
    let _ = refused.write_all(&request(12, 0, 2)).await;
    assert!(read_frame(&mut refused).await.is_err(), "a new connection was refused");
    // The window is time itself: the fault reads as none once it passed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.fault() != ActiveFault::None && Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    assert_eq!(proxy.fault(), ActiveFault::None);
    let mut back = TcpStream::connect(proxy.bootstrap()).await?;
    back.write_all(&request(12, 0, 3)).await?;
    assert_eq!(correlation(&read_frame(&mut back).await?), 3);
    assert!(proxy.counters().snapshot().refused_connections >= 1);
    token.stop_all(Duration::from_secs(5)).await;
    Ok(())
}

#[tokio::test]
async fn shutdown_stops_every_task() -> anyhow::Result<()> {
    let token = Shutdown::new();
    let proxy = FaultProxy::start(&fake_broker(Duration::ZERO).await?, &token)?;
    let mut open = TcpStream::connect(proxy.bootstrap()).await?;
    open.write_all(&request(12, 0, 1)).await?;
    read_frame(&mut open).await?;
    assert!(token.stop_all(Duration::from_secs(2)).await, "every task of the proxy ended");
    assert!(read_frame(&mut open).await.is_err(), "the open connection was closed");
    assert!(TcpStream::connect(proxy.bootstrap()).await.is_err(), "the listener is gone");
    Ok(())
}

#[tokio::test]
async fn dropping_the_handle_stops_the_proxy() -> anyhow::Result<()> {
    let token = Shutdown::new();
    let proxy = FaultProxy::start(&fake_broker(Duration::ZERO).await?, &token)?;
    let bootstrap = proxy.bootstrap();
    drop(proxy);
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(&bootstrap).await.is_ok() && Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    assert!(TcpStream::connect(&bootstrap).await.is_err(), "the listener is gone");
    assert!(!token.is_cancelled(), "the caller's token is left alone");
    Ok(())
}
