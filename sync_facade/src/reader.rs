//! [`BlockingReader`]: the core reader's operations, waited on by the calling thread.

use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use py_buffer_core::{Attempt, Error, Op, Reader, Result};

/// The chunk `fill_buf` peeks at once.
const FILL_CHUNK: usize = py_buffer_core::DEFAULT_CHUNK_SIZE;

/// A reader whose operations block the calling thread.
///
/// Every method is the core operation of the same name, waited on; with a timeout set
/// ([`BlockingReader::set_timeout`]), a wait longer than it fails with [`Error::TimedOut`]
/// and consumes nothing.
///
/// # Blocking
/// Calls that may wait retry for a few microseconds (short spins, then yields), then park the
/// thread on the buffer's listener.
#[derive(Debug, Clone)]
pub struct BlockingReader {
    inner: Reader,
    timeout: Option<Duration>,
    /// Bytes handed out by `fill_buf` and not yet consumed.
    peeked: Bytes,
}

/// Waits on `op` until it completes or the timeout passes.
fn wait<K: Attempt<Output = Result<T>>, T>(mut op: Op<K>, timeout: Option<Duration>) -> Result<T> {
    let deadline = timeout.map(|t| Instant::now() + t);
    op.wait_deadline(deadline).unwrap_or(Err(Error::TimedOut))
}

impl BlockingReader {
    /// Wraps a core reader.
    pub fn new(inner: Reader) -> Self {
        Self {
            inner,
            timeout: None,
            peeked: Bytes::new(),
        }
    }

    /// The core reader, for async use or for the non-blocking calls.
    pub fn get_ref(&self) -> &Reader {
        &self.inner
    }

    /// Sets (or with `None` clears) the timeout of every blocking call.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The timeout of blocking calls.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Reads exactly `n` bytes, or fewer at a clean EOF.
    pub fn read_exact_or_eof(&self, n: usize) -> Result<Bytes> {
        wait(self.inner.read(n), self.timeout)
    }

    /// Reads everything up to EOF.
    pub fn read_all(&self) -> Result<Bytes> {
        wait(self.inner.read_to_end(), self.timeout)
    }

    /// Reads between 1 and `n` bytes, blocking only while none are there; empty at EOF.
    pub fn read1(&self, n: usize) -> Result<Bytes> {
        wait(self.inner.read1(n), self.timeout)
    }

    /// Reads one line of at most `limit` bytes.
    pub fn readline(&self, limit: Option<usize>) -> Result<Bytes> {
        wait(self.inner.readline(limit), self.timeout)
    }

    /// Reads through the first `delim`, at most `limit` bytes.
    pub fn read_until_byte(&self, delim: u8, limit: Option<usize>) -> Result<Bytes> {
        wait(self.inner.read_until(delim, limit), self.timeout)
    }

    /// Reads whole lines until their total reaches `hint` bytes (`None`: all, to EOF).
    pub fn readlines(&self, hint: Option<usize>) -> Result<Vec<Bytes>> {
        wait(self.inner.readlines(hint), self.timeout)
    }

    /// Reads up to `n` bytes already there, never blocking.
    pub fn read_nonblock(&self, n: usize) -> Result<Bytes> {
        self.inner.read_nonblock(n)
    }

    /// Blocks until some bytes are there (or the body ended) and returns up to `n` of them
    /// without consuming them.
    pub fn peek(&self, n: usize) -> Result<Bytes> {
        wait(self.inner.fill(n), self.timeout)
    }

    /// Bytes readable without blocking.
    pub fn readable_amount(&self) -> usize {
        self.inner.readable_amount()
    }

    /// True when every byte was read and no more can come.
    pub fn at_eof(&self) -> bool {
        self.inner.at_eof()
    }

    /// The read position.
    pub fn tell(&self) -> u64 {
        self.inner.tell()
    }

    /// Where `needle` first occurs in the unread bytes `[start, end)`.
    pub fn find(&self, needle: &[u8], start: usize, end: Option<usize>) -> Option<usize> {
        self.inner.find(needle, start, end)
    }

    /// Closes the reader side.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl Read for BlockingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.peeked.is_empty() {
            let n = buf.len().min(self.peeked.len());
            buf[..n].copy_from_slice(&self.peeked[..n]);
            self.consume(n);
            return Ok(n);
        }
        let op = self.inner.read_into(buf);
        Ok(wait(op, self.timeout)?)
    }
}

impl BufRead for BlockingReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.peeked.is_empty() {
            self.peeked = wait(self.inner.fill(FILL_CHUNK), self.timeout)?;
        }
        Ok(&self.peeked)
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.peeked.len());
        self.peeked.advance(amt);
        self.inner.consume(amt);
    }
}

impl Seek for BlockingReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.peeked = Bytes::new();
        Ok(self.inner.seek(pos)?)
    }
}
