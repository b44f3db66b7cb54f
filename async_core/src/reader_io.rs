//! The reader under the ecosystem's async traits: tokio's and futures' `AsyncRead` and
//! `AsyncBufRead`, and `Stream<Item = io::Result<Bytes>>`.
//!
//! All of them run the same poll driver as the reader's own operations. `AsyncBufRead`
//! hands out a peeked block without consuming it; `consume` advances the shared position.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};

use crate::driver::{poll_attempt, AttemptFn};
use crate::ops::read_into;
use crate::read_kind::{decide_mut, Decision, ReadKind, Scan};
use crate::reader::{Reader, STREAM_CHUNK};
use crate::shared::Interest;

impl Reader {
    /// Reads between 1 and `dst.len()` bytes into `dst`; 0 at EOF.
    fn poll_read_into(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        let Self {
            shared, listener, ..
        } = self;
        poll_attempt(
            &mut AttemptFn {
                shared,
                interest: Interest::Readable,
                attempt: || read_into(shared, dst).map(|r| r.map_err(io::Error::from)),
            },
            listener,
            cx,
        )
    }

    /// Peeks up to a chunk of unread bytes into `self.peeked` (empty at EOF).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let Self {
            shared,
            listener,
            peeked,
            peeked_at,
        } = self;
        let kind = ReadKind::Available(STREAM_CHUNK);
        let filled = poll_attempt(
            &mut AttemptFn {
                shared,
                interest: Interest::Readable,
                attempt: || {
                    shared.update(|state, fx| {
                        if !peeked.is_empty() && *peeked_at == state.pos {
                            return Some(Ok(()));
                        }
                        match decide_mut(&kind, state, &mut Scan::default(), fx) {
                            Decision::Wait => None,
                            Decision::Fail(e) => Some(Err(io::Error::from(e))),
                            Decision::Take(n) => {
                                *peeked = state.store.to_bytes(state.pos, n);
                                *peeked_at = state.pos;
                                Some(Ok(()))
                            }
                        }
                    })
                },
            },
            listener,
            cx,
        );
        match filled {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(&self.peeked[..])),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn consume_peeked(&mut self, n: usize) {
        let n = n.min(self.peeked.len());
        self.peeked.advance(n);
        self.peeked_at += n as u64;
        Reader::consume(self, n);
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let Self {
            shared, listener, ..
        } = self;
        let kind = ReadKind::Available(STREAM_CHUNK);
        poll_attempt(
            &mut AttemptFn {
                shared,
                interest: Interest::Readable,
                attempt: || {
                    shared.update(|state, fx| {
                        match decide_mut(&kind, state, &mut Scan::default(), fx) {
                            Decision::Wait => None,
                            Decision::Fail(e) => Some(Some(Err(e.into()))),
                            Decision::Take(0) => Some(None),
                            Decision::Take(n) => {
                                Some(Some(Ok(state.take(n, |s| s.to_bytes(), fx))))
                            }
                        }
                    })
                },
            },
            listener,
            cx,
        )
    }
}

impl tokio::io::AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = std::task::ready!(this.poll_read_into(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncBufRead for Reader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().consume_peeked(amt);
    }
}

impl futures_io::AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_into(cx, buf)
    }
}

impl futures_io::AsyncBufRead for Reader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().consume_peeked(amt);
    }
}

impl futures_core::Stream for Reader {
    type Item = io::Result<Bytes>;

    /// The body in chunks of up to 64 KiB; ends at a clean EOF, yields the error of a failed
    /// body once every byte that arrived was yielded.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }
}
