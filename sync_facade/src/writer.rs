//! [`BlockingWriter`]: a writer that waits for room in bounded mode.

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use py_buffer_core::{AbortReason, Error, Result, Writer};

/// A writer whose writes block while a bounded buffer is full.
///
/// # Blocking
/// Only in bounded mode, and only while the unread bytes fill the bound; the thread parks on
/// the buffer's "writable" listener.
#[derive(Debug, Clone)]
pub struct BlockingWriter {
    inner: Writer,
    timeout: Option<Duration>,
}

impl BlockingWriter {
    /// Wraps a core writer.
    pub fn new(inner: Writer) -> Self {
        Self {
            inner,
            timeout: None,
        }
    }

    /// The core writer.
    pub fn get_ref(&self) -> &Writer {
        &self.inner
    }

    /// Sets (or clears) the timeout of blocking writes. A write that times out may have
    /// written a prefix; [`BlockingWriter::write_some`] reports exact counts.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    fn deadline(&self) -> Option<Instant> {
        self.timeout.map(|t| Instant::now() + t)
    }

    /// Writes all of `data`, blocking for room in bounded mode.
    pub fn write_all(&self, data: &[u8]) -> Result<()> {
        let deadline = self.deadline();
        self.inner
            .write(data)
            .wait_deadline(deadline)
            .unwrap_or(Err(Error::TimedOut))
    }

    /// Writes all of `data` (kept without copying when large), blocking for room.
    pub fn write_bytes(&self, data: Bytes) -> Result<()> {
        let deadline = self.deadline();
        self.inner
            .write_bytes(data)
            .wait_deadline(deadline)
            .unwrap_or(Err(Error::TimedOut))
    }

    /// Writes as much of `data` as fits after blocking until at least one byte fits.
    pub fn write_some(&self, data: &[u8]) -> Result<usize> {
        if data.is_empty() {
            return self.inner.try_write(data);
        }
        let deadline = self.deadline();
        loop {
            match self.inner.try_write(data)? {
                0 => self
                    .inner
                    .wait_writable()
                    .wait_deadline(deadline)
                    .unwrap_or(Err(Error::TimedOut))?,
                n => return Ok(n),
            }
        }
    }

    /// Marks a clean end of body.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    /// Marks the body as failed.
    pub fn abort(&self, reason: AbortReason) -> Result<()> {
        self.inner.abort(reason)
    }
}

impl io::Write for BlockingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.write_some(buf)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
