//! One relayed client connection. The request side reads whole frames, records every request
//! (correlation id, api key, version, what its response gets), applies the Produce faults and
//! forwards; the response side matches broker responses by correlation id, rewrites the ones
//! that carry addresses or versions, holds or drops Produce responses, and interleaves the
//! proxy's own answers in request order. Everything else is forwarded as bytes.

use super::fault::{bump, ActiveFault};
use super::inflight::{Action, InFlight, Pending};
use super::listeners::{connect_upstream, Shared, Upstream};
use super::rewrite::{self, RequestPolicy};
use parking_lot::Mutex;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify};

/// Larger frames close the connection (Kafka's default socket.request.max.bytes).
pub const MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;
/// Requests remembered per connection while they wait for their response. A client with more
/// in flight waits for room (backpressure) rather than having an entry forgotten, whose
/// response would then close the connection and make the client retry.
const IN_FLIGHT_LIMIT: usize = 4096;
/// How long a request waits for room before the oldest entry is forgotten anyway (a client
/// sending acks=0 Produce requests, which never get an answer, must not stall for good).
const ROOM_WAIT: Duration = Duration::from_secs(30);
const PRODUCE: i16 = 0;

/// Broker frames read ahead while the response side holds one back (a BrokerSlow delay is
/// counted from each frame's arrival, so frames must keep being read).
const READ_AHEAD: usize = 1024;

/// What reaches the response side: a broker frame (with when it arrived), a new answer of the
/// proxy's, or the end.
enum Event {
    Response(Vec<u8>, tokio::time::Instant),
    Wake,
    BrokerClosed,
}

/// Runs one connection until either side closes, the broker plays absent, or shutdown.
pub(crate) async fn connection(
    client: TcpStream,
    peer: SocketAddr,
    upstream: Upstream,
    shared: Arc<Shared>,
    mut cut: watch::Receiver<u64>,
) {
    let token = shared.token.clone();
    let outcome = tokio::select! {
        r = relay(client, &upstream, &shared) => r,
        _ = cut.changed() => Ok(()),
        _ = token.cancelled() => Ok(()),
    };
    // Leaving the select drops both sockets.
    match outcome {
        Ok(()) => tracing::debug!(%peer, "fault proxy: connection closed"),
        Err(error) => tracing::debug!(%peer, %error, "fault proxy: connection ended"),
    }
}

async fn relay(client: TcpStream, upstream: &Upstream, shared: &Arc<Shared>) -> io::Result<()> {
    let (broker, target) = connect_upstream(upstream, shared).await?;
    tracing::debug!(%target, "fault proxy: upstream connected");
    client.set_nodelay(true)?;
    broker.set_nodelay(true)?;
    let (client_rx, client_tx) = client.into_split();
    let (broker_rx, broker_tx) = broker.into_split();
    let inflight = Mutex::new(InFlight::new(IN_FLIGHT_LIMIT));
    let room = Notify::new();
    let (events_tx, events_rx) = mpsc::channel(READ_AHEAD);
    tokio::select! {
        r = requests(client_rx, broker_tx, shared, (&inflight, &room), events_tx.clone()) => r,
        r = broker_frames(broker_rx, events_tx) => r,
        r = responses(events_rx, client_tx, shared, (&inflight, &room)) => r,
    }
}

/// Reads one frame (size prefix included); `Ok(None)` at a clean end of stream.
async fn read_frame<R: AsyncRead + Unpin>(rx: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut size = [0u8; 4];
    match rx.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = i32::from_be_bytes(size);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (4..=MAX_FRAME_BYTES).contains(l))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad frame size {len}")))?;
    let mut frame = Vec::with_capacity(4 + len.min(64 * 1024));
    frame.extend_from_slice(&size);
    // Grows with the data that arrives, not with what the size claims.
    let read = rx.take(len as u64).read_to_end(&mut frame).await?;
    if read != len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "frame cut short"));
    }
    Ok(Some(frame))
}

/// Waits (bounded) until the in-flight table has room for one more request.
async fn wait_for_room(inflight: &Mutex<InFlight>, room: &Notify) {
    let deadline = tokio::time::Instant::now() + ROOM_WAIT;
    loop {
        let freed = room.notified();
        tokio::pin!(freed);
        freed.as_mut().enable();
        if inflight.lock().len() < IN_FLIGHT_LIMIT {
            return;
        }
        if tokio::time::timeout_at(deadline, freed).await.is_err() {
            tracing::warn!("fault proxy: no response frees the in-flight table; its oldest entry is forgotten");
            return;
        }
    }
}

async fn requests(
    rx: OwnedReadHalf,
    mut tx: OwnedWriteHalf,
    shared: &Arc<Shared>,
    (inflight, room): (&Mutex<InFlight>, &Notify),
    events: mpsc::Sender<Event>,
) -> io::Result<()> {
    let mut rx = BufReader::with_capacity(64 * 1024, rx);
    while let Some(frame) = read_frame(&mut rx).await? {
        let prefix = rewrite::request_prefix(&frame)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "request shorter than its header"))?;
        let action = match rewrite::request_policy(prefix.api_key, prefix.api_version) {
            RequestPolicy::Refuse => {
                bump(&shared.counters.refused_requests);
                tracing::warn!(
                    api_key = prefix.api_key,
                    api_version = prefix.api_version,
                    "fault proxy: request it cannot make safe, connection closed"
                );
                return Ok(());
            }
            RequestPolicy::AnswerUnsupportedApiVersions => {
                Action::Answer(rewrite::api_versions_unsupported(prefix.correlation_id)?)
            }
            RequestPolicy::Rewrite => Action::Rewrite,
            RequestPolicy::Forward if prefix.api_key == PRODUCE => produce_action(shared, &frame),
            RequestPolicy::Forward => Action::Pass,
        };
        let answered_here = matches!(action, Action::Answer(_));
        let pending = Pending {
            correlation_id: prefix.correlation_id,
            api_key: prefix.api_key,
            api_version: prefix.api_version,
            action,
        };
        // Recorded before forwarding, so the response can never arrive first.
        wait_for_room(inflight, room).await;
        inflight.lock().push(pending);
        if answered_here {
            events.send(Event::Wake).await.map_err(|_| io::Error::other("response side gone"))?;
        } else {
            tx.write_all(&frame).await?;
        }
    }
    Ok(())
}

/// What a Produce request gets from the fault in effect.
fn produce_action(shared: &Shared, frame: &[u8]) -> Action {
    bump(&shared.counters.produce_requests);
    let armed = shared.fault.lock().armed_produce_error().is_some();
    if armed {
        if let Some(answer) = produce_error_answer(shared, frame) {
            return answer;
        }
    }
    shared.fault.lock().take_produce_hold()
}

/// The proxy's own error answer to a Produce request, if one is due and the request wants an
/// answer (acks=0 gets none: it is forwarded instead).
fn produce_error_answer(shared: &Shared, frame: &[u8]) -> Option<Action> {
    let (header, request) = match rewrite::decode_produce_request(frame) {
        Ok(decoded) => decoded,
        Err(error) => {
            tracing::warn!(%error, "fault proxy: Produce request not decodable, forwarded");
            return None;
        }
    };
    if request.acks == 0 {
        tracing::debug!("fault proxy: acks=0 Produce gets no response, forwarded");
        return None;
    }
    let code = shared.fault.lock().take_produce_error()?;
    match rewrite::produce_error_for(&header, &request, code) {
        Ok(frame) => {
            bump(&shared.counters.produce_errors);
            Some(Action::Answer(frame))
        }
        Err(error) => {
            tracing::warn!(%error, "fault proxy: cannot build the Produce error response");
            None
        }
    }
}

async fn broker_frames(rx: OwnedReadHalf, events: mpsc::Sender<Event>) -> io::Result<()> {
    let mut rx = BufReader::with_capacity(64 * 1024, rx);
    while let Some(frame) = read_frame(&mut rx).await? {
        if events.send(Event::Response(frame, tokio::time::Instant::now())).await.is_err() {
            return Ok(());
        }
    }
    // Let the response side finish what it has, then end the connection.
    let _ = events.send(Event::BrokerClosed).await;
    std::future::pending().await
}

async fn responses(
    mut events: mpsc::Receiver<Event>,
    mut tx: OwnedWriteHalf,
    shared: &Arc<Shared>,
    (inflight, room): (&Mutex<InFlight>, &Notify),
) -> io::Result<()> {
    while let Some(event) = events.recv().await {
        match event {
            Event::Wake => {}
            Event::BrokerClosed => return Ok(()),
            Event::Response(frame, arrived) => {
                let keep = respond((frame, arrived), &mut tx, shared, inflight).await?;
                room.notify_waiters();
                if !keep {
                    return Ok(());
                }
            }
        }
        let ready = inflight.lock().ready_answers();
        for frame in ready {
            tx.write_all(&frame).await?;
        }
    }
    Ok(())
}

/// Handles one broker response; `Ok(false)`: close the connection.
async fn respond(
    (frame, arrived): (Vec<u8>, tokio::time::Instant),
    tx: &mut OwnedWriteHalf,
    shared: &Arc<Shared>,
    inflight: &Mutex<InFlight>,
) -> io::Result<bool> {
    let correlation_id = rewrite::response_correlation_id(&frame)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "response shorter than its header"))?;
    let taken = inflight.lock().take(correlation_id);
    let Some((answers, pending)) = taken else {
        bump(&shared.counters.refused_requests);
        tracing::warn!(correlation_id, "fault proxy: response to no known request, connection closed");
        return Ok(false);
    };
    for answer in answers {
        tx.write_all(&answer).await?;
    }
    match pending.action {
        Action::Pass | Action::Answer(_) => tx.write_all(&frame).await?,
        Action::Rewrite => match rewrite::rewrite_response(pending.api_key, pending.api_version, &frame, shared) {
            Ok(Some(rewritten)) => tx.write_all(&rewritten).await?,
            Ok(None) => tx.write_all(&frame).await?,
            Err(error) => {
                bump(&shared.counters.refused_requests);
                tracing::warn!(api_key = pending.api_key, api_version = pending.api_version, %error,
                    "fault proxy: response cannot be rewritten, connection closed");
                return Ok(false);
            }
        },
        Action::Delay(delay) => {
            bump(&shared.counters.delayed_responses);
            // Held `delay` from its arrival (responses in flight are held side by side, not one
            // after another). They keep their order on a connection: what follows waits too. The
            // hold ends early when the fault is switched off.
            let mut release = shared.release.subscribe();
            release.borrow_and_update();
            tokio::select! {
                _ = tokio::time::sleep_until(arrived + delay) => {}
                _ = release.changed() => {}
            }
            tx.write_all(&frame).await?;
        }
        Action::Drop => {
            bump(&shared.counters.dropped_connections);
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether a fault needs the open connections closed when it is switched on.
pub(crate) fn cuts_connections(fault: &ActiveFault) -> bool {
    matches!(fault, ActiveFault::BrokerUnavailable { .. })
}
