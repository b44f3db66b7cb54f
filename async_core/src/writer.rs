//! The producer's handle: appends, close, abort, and waiting for room in bounded mode.
//!
//! Writer handles are counted: dropping the last one without `close()` aborts the body with
//! [`AbortReason::WriterGone`], so no reader is ever left waiting for a producer that is gone.

use bytes::Bytes;
use event_listener::EventListener;

use crate::driver::Op;
use crate::edge::Observer;
use crate::error::{AbortReason, Result};
use crate::ops::{Room, WriteBytes, WriteSlice};
use crate::reader::Reader;
use crate::shared::Shared;
use crate::state::Info;
use crate::sync::Arc;

/// A producer handle of a buffer.
///
/// ```
/// # if py_buffer_core::__built_for_loom() { return; } // loom locks need a loom model
/// let (writer, reader) = py_buffer_core::channel(py_buffer_core::Options::new().content_length(4));
/// writer.try_write(b"ab").unwrap();
/// writer.try_write(b"cd").unwrap();
/// assert!(writer.try_write(b"e").is_err(), "beyond the content length");
/// assert_eq!(reader.read(4).wait().unwrap(), &b"abcd"[..]);
/// assert!(reader.at_eof(), "the content length arrived: EOF without close");
/// ```
pub struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) listener: Option<EventListener>,
}

impl Writer {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            listener: None,
        }
    }

    /// Appends as much of `data` as fits now and returns how much: all of it unless bounded
    /// mode is full (then possibly 0). Never waits.
    ///
    /// Fails, writing nothing, after `close`, `abort` or the reader's close, or when `data`
    /// would exceed the content length.
    pub fn try_write(&self, data: &[u8]) -> Result<usize> {
        self.shared.write(data)
    }

    /// [`Writer::try_write`] without the error: `None` when it fails, having written nothing.
    /// Failures are final (the body ended, the reader closed, or `data` would exceed the
    /// content length, which only grows closer), so `try_write` of the same `data` then says
    /// why. For hot paths: the small result is returned in registers.
    #[inline]
    pub fn try_write_quiet(&self, data: &[u8]) -> Option<usize> {
        self.shared.write_quiet(data)
    }

    /// Like [`Writer::try_write`] for owned bytes, which large writes keep without copying;
    /// the accepted bytes are split off the front of `data`.
    pub fn try_write_bytes(&self, data: &mut Bytes) -> Result<usize> {
        self.shared.update(|state, fx| state.write_bytes(data, fx))
    }

    /// Appends all of `data`, waiting for room in bounded mode (a write larger than the
    /// bound completes in pieces as the reader drains).
    ///
    /// If cancelled, a prefix of `data` may have been written (as with `write_all`).
    pub fn write<'a>(&'a self, data: &'a [u8]) -> Op<WriteSlice<'a>> {
        WriteSlice::op(&self.shared, data)
    }

    /// Appends all of `data`, waiting for room in bounded mode.
    pub fn write_bytes(&self, data: Bytes) -> Op<WriteBytes<'_>> {
        WriteBytes::op(&self.shared, data)
    }

    /// Resolves once at least one byte could be written (always, unless bounded and full),
    /// or with the error a write would get.
    pub fn wait_writable(&self) -> Op<Room<'_>> {
        Room::op(&self.shared)
    }

    /// Marks a clean end of body. Idempotent; an error after `abort`.
    pub fn close(&self) -> Result<()> {
        self.shared.update(|state, fx| state.close(fx))
    }

    /// Marks the body as failed: readers get [`crate::Error::Aborted`] once the bytes that
    /// arrived cannot satisfy them. The first reason wins; an error after `close`.
    pub fn abort(&self, reason: AbortReason) -> Result<()> {
        self.shared.update(|state, fx| state.abort(reason, fx))
    }

    /// A reader handle on this buffer (sharing the one read position).
    pub fn reader(&self) -> Reader {
        Reader::from_shared(Arc::clone(&self.shared))
    }

    /// A summary of the buffer's state.
    pub fn info(&self) -> Info {
        self.shared.lock().info()
    }

    /// Registers (or with `None` removes) the observer told about readiness edges.
    ///
    /// # Leaks
    /// The buffer owns its observer: an observer that captures a [`Writer`] or [`Reader`] of
    /// the same buffer is a reference cycle. Capture [`Writer::downgrade`] /
    /// [`Reader::downgrade`] instead. See [`Observer`] for when the buffer releases it.
    pub fn set_observer(&self, observer: Option<std::sync::Arc<dyn Observer>>) {
        self.shared.set_observer(observer);
    }

    /// A handle that is not counted as a writer and does not keep the buffer alive: what an
    /// [`Observer`] should capture to write from its callback ([`crate::WeakWriter::upgrade`]).
    #[cfg(not(loom))]
    pub fn downgrade(&self) -> crate::WeakWriter {
        crate::WeakWriter(Shared::downgrade(&self.shared))
    }
}

impl Clone for Writer {
    /// Another producer handle; the body is aborted only when the last one is dropped
    /// unclosed.
    fn clone(&self) -> Self {
        self.shared.add_writer();
        Self::from_shared(Arc::clone(&self.shared))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.remove_writer();
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("info", &self.info())
            .finish()
    }
}
