//! A Kafka-aware TCP relay between the producers and the embedded broker. It reads only frame
//! headers (`int32 size`, then `int16 api_key, int16 api_version, int32 correlation_id` for a
//! request, `int32 correlation_id` for a response) and, when told to, injects one fault:
//! hold Produce responses, drop a connection after a Produce request, or play an absent broker.

use parking_lot::Mutex;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const PRODUCE_API_KEY: i16 = 0;
/// Larger frames are not Kafka traffic this service produces: the connection is closed.
const MAX_FRAME: usize = 256 * 1024 * 1024;

/// The fault in effect. Counted faults apply to the next `remaining` Produce requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ActiveFault {
    #[default]
    None,
    DelayProduceResponse {
        delay: Duration,
        remaining: u32,
    },
    DropConnectionAfterProduce {
        remaining: u32,
    },
    BrokerUnavailable {
        until: Instant,
    },
}

/// What the proxy did, for the lab's report and the metrics.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    pub connections: AtomicU64,
    pub produce_requests: AtomicU64,
    pub delayed_responses: AtomicU64,
    pub dropped_connections: AtomicU64,
    pub refused_connections: AtomicU64,
}

struct Shared {
    fault: Mutex<ActiveFault>,
    counters: ProxyCounters,
    /// Bumped to close every open connection (start of a broker-unavailable window).
    cut: watch::Sender<u64>,
    /// Bumped when the fault is switched off: answers still held are let go at once.
    release: watch::Sender<u64>,
}

/// What a connection must do with the response to one of its requests.
enum Hold {
    Delay(Duration),
    Drop,
}

pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Mutex<Option<TcpListener>>,
}

impl FaultProxy {
    /// Binds a loopback port now, so the broker can advertise it before the proxy relays.
    pub async fn bind() -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let (cut, _) = watch::channel(0);
        let (release, _) = watch::channel(0);
        Ok(Self {
            addr: listener.local_addr()?,
            shared: Arc::new(Shared {
                fault: Mutex::new(ActiveFault::None),
                counters: ProxyCounters::default(),
                cut,
                release,
            }),
            listener: Mutex::new(Some(listener)),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts relaying every accepted connection to `upstream`, until shutdown.
    pub fn start(&self, upstream: SocketAddr, shutdown: &crate::server::shutdown::Shutdown) {
        let Some(listener) = self.listener.lock().take() else {
            return;
        };
        let shared = self.shared.clone();
        shutdown.spawn(accept_loop(listener, upstream, shared, shutdown.token()));
    }

    pub fn set_fault(&self, fault: ActiveFault) {
        let cut = matches!(fault, ActiveFault::BrokerUnavailable { .. });
        let off = fault == ActiveFault::None;
        *self.shared.fault.lock() = fault;
        if cut {
            self.shared.cut.send_modify(|n| *n += 1);
        }
        if off {
            self.shared.release.send_modify(|n| *n += 1);
        }
    }

    pub fn fault(&self) -> ActiveFault {
        let mut fault = self.shared.fault.lock();
        if matches!(*fault, ActiveFault::BrokerUnavailable { until } if Instant::now() >= until) {
            *fault = ActiveFault::None;
        }
        fault.clone()
    }

    pub fn clear_fault(&self) {
        self.set_fault(ActiveFault::None);
    }

    pub fn counters(&self) -> &ProxyCounters {
        &self.shared.counters
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (client, peer) = match accepted {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(%error, "fault proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let unavailable =
            matches!(*shared.fault.lock(), ActiveFault::BrokerUnavailable { until } if Instant::now() < until);
        if unavailable {
            shared.counters.refused_connections.fetch_add(1, Ordering::Relaxed);
            drop(client);
            continue;
        }
        shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let stop = stop.clone();
        // Each connection ends with either side, or at shutdown.
        tokio::spawn(async move {
            let relayed = tokio::select! {
                _ = stop.cancelled() => Ok(()),
                relayed = relay(client, upstream, shared) => relayed,
            };
            if let Err(error) = relayed {
                tracing::debug!(%peer, %error, "fault proxy: connection ended");
            }
        });
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) -> std::io::Result<()> {
    let broker = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(upstream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "broker connect timed out"))??;
    client.set_nodelay(true)?;
    broker.set_nodelay(true)?;
    let (client_rx, client_tx) = client.into_split();
    let (broker_rx, broker_tx) = broker.into_split();
    let held: Arc<Mutex<Vec<(i32, Hold)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut cut = shared.cut.subscribe();
    cut.borrow_and_update();
    tokio::select! {
        r = requests(client_rx, broker_tx, shared.clone(), held.clone()) => r,
        r = responses(broker_rx, client_tx, shared.clone(), held) => r,
        _ = cut.changed() => Ok(()),
    }
    // Leaving the select drops all four halves: both sockets close.
}

/// Reads one frame (size prefix included) into `buf`; `Ok(false)` at a clean end of stream.
async fn read_frame(rx: &mut BufReader<OwnedReadHalf>, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut size = [0u8; 4];
    match rx.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let len = i32::from_be_bytes(size);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l >= 4 && *l <= MAX_FRAME)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad frame size {len}")))?;
    buf.clear();
    buf.extend_from_slice(&size);
    buf.resize(4 + len, 0);
    rx.read_exact(&mut buf[4..]).await?;
    Ok(true)
}

async fn requests(
    rx: OwnedReadHalf,
    mut tx: OwnedWriteHalf,
    shared: Arc<Shared>,
    held: Arc<Mutex<Vec<(i32, Hold)>>>,
) -> std::io::Result<()> {
    let mut rx = BufReader::with_capacity(64 * 1024, rx);
    let mut frame = Vec::with_capacity(64 * 1024);
    while read_frame(&mut rx, &mut frame).await? {
        if frame.len() >= 12 && i16::from_be_bytes([frame[4], frame[5]]) == PRODUCE_API_KEY {
            shared.counters.produce_requests.fetch_add(1, Ordering::Relaxed);
            let correlation = i32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
            if let Some(hold) = take_produce_fault(&shared) {
                held.lock().push((correlation, hold));
            }
        }
        tx.write_all(&frame).await?;
    }
    Ok(())
}

/// Consumes one unit of a counted fault, if one is armed.
fn take_produce_fault(shared: &Shared) -> Option<Hold> {
    let mut fault = shared.fault.lock();
    match &mut *fault {
        ActiveFault::DelayProduceResponse { delay, remaining } if *remaining > 0 => {
            *remaining -= 1;
            Some(Hold::Delay(*delay))
        }
        ActiveFault::DropConnectionAfterProduce { remaining } if *remaining > 0 => {
            *remaining -= 1;
            Some(Hold::Drop)
        }
        _ => None,
    }
}

async fn responses(
    rx: OwnedReadHalf,
    mut tx: OwnedWriteHalf,
    shared: Arc<Shared>,
    held: Arc<Mutex<Vec<(i32, Hold)>>>,
) -> std::io::Result<()> {
    let mut rx = BufReader::with_capacity(64 * 1024, rx);
    let mut frame = Vec::with_capacity(64 * 1024);
    while read_frame(&mut rx, &mut frame).await? {
        let correlation = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let hold = {
            let mut held = held.lock();
            held.iter().position(|(c, _)| *c == correlation).map(|i| held.swap_remove(i).1)
        };
        match hold {
            None => {}
            Some(Hold::Delay(delay)) => {
                shared.counters.delayed_responses.fetch_add(1, Ordering::Relaxed);
                // Responses keep their order on a connection: everything behind waits too. The
                // hold ends early when the fault is switched off.
                let mut release = shared.release.subscribe();
                release.borrow_and_update();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = release.changed() => {}
                }
            }
            Some(Hold::Drop) => {
                shared.counters.dropped_connections.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
        tx.write_all(&frame).await?;
    }
    Ok(())
}
