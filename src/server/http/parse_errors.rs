//! hyper answers a request it cannot parse by itself, before the app sees it: a request line
//! over 65,534 bytes gets `414` and a header section over its buffer `431`, each with an empty
//! body. This wrapper around a connection's socket turns those answers into problem+json that
//! says what to fix: it keeps the start of the request being read, and when hyper writes one
//! of its bodiless error answers, writes [`super::unparsed::answer`]'s response instead.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes of a request kept to explain a refusal: its request line up to here.
const CAPTURE_LIMIT: usize = 80 * 1024;

pub struct ParseErrorsAsProblems<S> {
    inner: S,
    /// The start of the request being read (since the last answer began).
    capture: Vec<u8>,
    /// Our answer in place of hyper's, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S> ParseErrorsAsProblems<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, capture: Vec::new(), replacement: None }
    }
}

/// hyper's own answer to an unparsable request: a 400, 414 or 431 head with no content type
/// and an empty body (every answer of this app has a body and a content type).
fn automatic_error(buf: &[u8]) -> Option<u16> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ").or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    let status: u16 = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    if !matches!(status, 400 | 414 | 431) {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let bodiless = head.contains("\r\ncontent-length: 0") && !head.contains("\r\ncontent-type:");
    bodiless.then_some(status)
}

impl<S: AsyncRead + Unpin> AsyncRead for ParseErrorsAsProblems<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let room = CAPTURE_LIMIT.saturating_sub(self.capture.len());
            let new = &buf.filled()[before..];
            let keep = new.len().min(room);
            self.capture.extend_from_slice(&new[..keep]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> ParseErrorsAsProblems<S> {
    /// Writes what is left of the replacement; `Ready(Ok)` once all of it is out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written >= bytes.len() {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Decides, at the start of an answer, whether it is one of hyper's to replace.
    fn inspect(&mut self, buf: &[u8]) {
        if self.replacement.is_some() || !buf.starts_with(b"HTTP/1.") {
            return;
        }
        match automatic_error(buf) {
            Some(status) => self.replacement = Some((super::unparsed::answer(status, &self.capture), 0)),
            None => self.capture.clear(),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ParseErrorsAsProblems<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inspect(buf);
        if self.replacement.is_some() {
            // Ours goes out instead; hyper's bytes (and anything after: it closes) are dropped.
            return self.poll_replacement(cx).map_ok(|()| buf.len());
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs.iter().find(|b| !b.is_empty()).map(|b| &**b).unwrap_or_default();
        self.inspect(first);
        if self.replacement.is_some() {
            return self.poll_replacement(cx).map_ok(|()| first.len());
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Poll::Ready(Err(e)) = self.poll_replacement(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_replacement(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_errors_are_replaced() {
        let hyper_414 = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(automatic_error(hyper_414), Some(414));
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(automatic_error(hyper_431), Some(431));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 90\r\n\r\n";
        assert_eq!(automatic_error(ours), None);
        assert_eq!(automatic_error(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"), None);
    }
}
