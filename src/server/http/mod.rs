//! The HTTP listener and the connection loop: a listen backlog sized for bursts, hyper serving
//! HTTP/1.1 and HTTP/2 with a graceful stop, and hyper's own refusals turned into problem+json
//! ([`parse_errors`], [`unparsed`]).

mod parse_errors;
mod unparsed;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use parse_errors::ParseErrorsAsProblems;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Connections the kernel may hold for us until the workers accept them. mio's default, 128,
/// overflows when a few hundred clients connect at once to a busy service, and each handshake
/// dropped then costs its client a one-second SYN retransmit. The kernel caps it at
/// `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

/// The most a request line and its headers may take, in bytes: past it hyper answers 431 (which
/// [`parse_errors`] turns into problem+json).
pub const MAX_HEAD_BYTES: usize = 256 * 1024;

/// The HTTP listener, with [`LISTEN_BACKLOG`].
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `router` until `stop` is cancelled, then lets open requests finish within `grace`.
pub async fn serve(listener: TcpListener, router: Router, stop: CancellationToken, grace: Duration) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(MAX_HEAD_BYTES);
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(ParseErrorsAsProblems::new(stream));
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still open after the grace period; closing them");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While the workers are busy (here: nobody accepts), a burst of connections is held by the
    /// kernel instead of being made to retry a second later. With mio's default backlog (128),
    /// the connections after the 129th are not established.
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_backlog_while_nobody_accepts() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let connects =
            (0..300).map(|_| tokio::time::timeout(Duration::from_millis(800), tokio::net::TcpStream::connect(addr)));
        let established =
            futures::future::join_all(connects).await.into_iter().filter(|c| matches!(c, Ok(Ok(_)))).count();
        // The kernel caps the backlog at net.core.somaxconn (4096 by default since Linux 5.4).
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        assert_eq!(established, 300.min(somaxconn + 1), "connections established before any accept");
    }
}
