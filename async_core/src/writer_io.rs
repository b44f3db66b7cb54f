//! The writer under the ecosystem's async traits: `futures::Sink<Bytes>` and tokio's and
//! futures' `AsyncWrite`. In bounded mode they wait for room through the same listener as
//! [`Writer::write`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::driver::{poll_attempt, AttemptFn};
use crate::error::Error;
use crate::shared::Interest;
use crate::writer::Writer;

impl Writer {
    fn poll_write_some(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let Self { shared, listener } = self;
        poll_attempt(
            &mut AttemptFn {
                shared,
                interest: Interest::Writable,
                attempt: || match shared.write(data) {
                    Ok(0) if !data.is_empty() => None,
                    Ok(n) => Some(Ok(n)),
                    Err(e) => Some(Err(e.into())),
                },
            },
            listener,
            cx,
        )
    }

    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let Self { shared, listener } = self;
        poll_attempt(
            &mut AttemptFn {
                shared,
                interest: Interest::Writable,
                attempt: || match shared.lock().has_room() {
                    Ok(true) => Some(Ok(())),
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                },
            },
            listener,
            cx,
        )
    }
}

impl futures_sink::Sink<Bytes> for Writer {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_room(cx)
    }

    /// Appends the whole item (even beyond the bound, which `poll_ready` already checked).
    fn start_send(self: Pin<&mut Self>, item: Bytes) -> Result<(), Error> {
        self.shared
            .update(|state, fx| state.write_bytes_unbounded(item, fx))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(self.close())
    }
}

impl tokio::io::AsyncWrite for Writer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_some(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.close().map_err(io::Error::from))
    }
}

impl futures_io::AsyncWrite for Writer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_some(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.close().map_err(io::Error::from))
    }
}
