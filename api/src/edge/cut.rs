//! Connections the edge can cut: a TCP stream wrapper with a switch that
//! ends it from outside, whoever is waiting on it.
//!
//! Why: a client that stops reading fills its kernel buffers, then its
//! socket's outgoing queue; the edge evicts it ([`super::deliver`]). But a
//! Socket.IO disconnect is a packet, and a packet cannot reach a client
//! that does not read: the WebSocket writer stays parked on a full TCP send
//! buffer, and the connection with its buffers (megabytes in the kernel)
//! stays open for as long as the peer keeps its end, minutes or forever.
//! socketioxide offers no way to drop a socket's transport without a packet,
//! so the edge keeps, for every accepted connection, a [`CutSwitch`] in the
//! request's extensions (engineioxide keeps a socket's request parts for its
//! life): flipping it makes every read and write of that connection fail at
//! once, waking whatever task is parked on it, so the transport ends, the
//! socket's disconnect handler runs, and the stream is dropped and closed.
//!
//! For a WebSocket, the connection that upgraded is the socket's whole
//! transport. A long-polling socket uses a new request per poll; cutting the
//! handshake's connection does nothing to it, and none is needed: a polling
//! client that stops polling is closed by engine.io's heartbeat, and its
//! queue is not a TCP buffer.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Ends one connection from outside.
#[derive(Debug, Default)]
pub struct CutSwitch {
    cut: AtomicBool,
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl CutSwitch {
    /// Ends the connection: every pending and later read or write fails.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.reader.wake();
        self.writer.wake();
    }

    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }
}

/// What a stream does when it is cut, before it is dropped.
pub trait Abort {
    /// Makes the coming close discard what is still queued for the peer.
    fn abort(&self);
}

impl Abort for tokio::net::TcpStream {
    /// `SO_LINGER` 0: the close sends a reset and frees the kernel's send
    /// buffer at once, instead of the kernel trying for minutes to deliver
    /// megabytes to a peer that does not read.
    fn abort(&self) {
        if let Err(e) = self.set_zero_linger() {
            tracing::debug!(error = %e, "cannot set SO_LINGER on a cut connection");
        }
    }
}

impl Abort for tokio::io::DuplexStream {
    fn abort(&self) {}
}

/// A stream that fails once its switch is flipped.
pub struct Cuttable<S: Abort> {
    inner: S,
    switch: Arc<CutSwitch>,
    aborted: bool,
}

impl<S: Abort> Cuttable<S> {
    pub fn new(inner: S) -> (Self, Arc<CutSwitch>) {
        let switch = Arc::new(CutSwitch::default());
        (
            Self {
                inner,
                switch: switch.clone(),
                aborted: false,
            },
            switch,
        )
    }

    /// Whether the switch was flipped; the first time, aborts the stream.
    fn cut_now(&mut self) -> bool {
        if !self.switch.is_cut() {
            return false;
        }
        if !self.aborted {
            self.aborted = true;
            self.inner.abort();
        }
        true
    }
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut by the server",
    )
}

impl<S: AsyncRead + Abort + Unpin> AsyncRead for Cuttable<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Register before checking, so a cut in between still wakes us.
        self.switch.reader.register(cx.waker());
        if self.cut_now() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Abort + Unpin> AsyncWrite for Cuttable<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.switch.writer.register(cx.waker());
        if self.cut_now() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.switch.writer.register(cx.waker());
        if self.cut_now() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.cut_now() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.switch.writer.register(cx.waker());
        if self.cut_now() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_cut_wakes_a_writer_parked_on_a_full_pipe_and_a_parked_reader() {
        // A pipe of 64 bytes that nobody reads: the writer parks.
        let (a, _b) = tokio::io::duplex(64);
        let (mut stream, switch) = Cuttable::new(a);
        let writer = tokio::spawn(async move {
            let chunk = [7u8; 1024];
            loop {
                if let Err(e) = stream.write_all(&chunk).await {
                    return e.kind();
                }
            }
        });
        tokio::task::yield_now().await;
        assert!(
            !writer.is_finished(),
            "the writer is parked on the full pipe"
        );
        switch.cut();
        assert_eq!(writer.await.unwrap(), io::ErrorKind::ConnectionAborted);

        let (c, _d) = tokio::io::duplex(64);
        let (mut stream, switch) = Cuttable::new(c);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            stream.read(&mut buf).await.map_err(|e| e.kind())
        });
        tokio::task::yield_now().await;
        switch.cut();
        assert_eq!(reader.await.unwrap(), Err(io::ErrorKind::ConnectionAborted));
    }

    #[tokio::test]
    async fn an_uncut_stream_passes_bytes_through() {
        let (a, mut b) = tokio::io::duplex(64);
        let (mut stream, _switch) = Cuttable::new(a);
        stream.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
    }
}
