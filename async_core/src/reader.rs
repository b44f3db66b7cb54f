//! The consumer's handle: every read, search and seek of the buffer.
//!
//! All reader handles of one buffer share one read position (they are views of the same
//! body, as a `wsgi.input` is). Reads return futures that are also blockable
//! (`reader.read(4).wait()`); nothing is consumed unless a read completes.

use std::io::SeekFrom;

use bytes::Bytes;
use event_listener::EventListener;

use crate::driver::Op;
use crate::edge::Observer;
use crate::error::Result;
use crate::ops::{Fill, HangUp, ReadBytes, ReadInto, ReadLines, Ready, Take, ToBytes, ToLines};
use crate::read_kind::{decide_mut, Decision, ReadKind, Scan};
use crate::shared::Shared;
use crate::slices::Slices;
use crate::state::Info;
use crate::sync::Arc;
use crate::writer::Writer;

/// The size of the chunks the streaming traits (`Stream`, `AsyncBufRead`) hand out.
pub(crate) const STREAM_CHUNK: usize = crate::sizes::DEFAULT_CHUNK_SIZE;

/// A consumer handle of a buffer.
///
/// ```
/// # if py_buffer_core::__built_for_loom() { return; } // loom locks need a loom model
/// # futures::executor::block_on(async {
/// let (writer, reader) = py_buffer_core::channel(Default::default());
/// writer.try_write(b"line 1\nline 2\n").unwrap();
/// writer.close().unwrap();
/// assert_eq!(reader.readline(None).await.unwrap(), &b"line 1\n"[..]);
/// assert_eq!(reader.read_to_end().await.unwrap(), &b"line 2\n"[..]);
/// assert!(reader.at_eof());
/// # });
/// ```
pub struct Reader {
    pub(crate) shared: Arc<Shared>,
    pub(crate) listener: Option<EventListener>,
    /// Bytes handed out by `poll_fill_buf` and not yet consumed, and where they start.
    pub(crate) peeked: Bytes,
    pub(crate) peeked_at: u64,
}

fn to_bytes(slices: Slices<'_>) -> Bytes {
    slices.to_bytes()
}

fn to_lines(slices: Slices<'_>) -> Vec<Bytes> {
    slices.to_lines()
}

impl Reader {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        shared.add_reader();
        Self {
            shared,
            listener: None,
            peeked: Bytes::new(),
            peeked_at: 0,
        }
    }

    fn take(&self, kind: ReadKind) -> ReadBytes<'_> {
        Take::op(&self.shared, kind, to_bytes as ToBytes)
    }

    /// Reads exactly `n` bytes, or fewer at a clean EOF.
    ///
    /// At a failed end (truncated or aborted body) that leaves fewer than `n` bytes, resolves
    /// to the error and consumes nothing.
    ///
    /// # Reads larger than the bound
    /// In bounded mode a read may need more bytes than `max_buffered` (`read(n)` with a large
    /// `n`, [`Reader::read_to_end`], a line longer than the bound). Whenever such a read has
    /// to wait while the bound is full, the unread bytes are *set aside* for it: they stay
    /// unread, at the read position, but stop counting against the bound, so the writer gets
    /// room (and [`crate::Edge::Writable`]) and the read completes, as a read over a pipe
    /// does. The result may exceed the bound; the counted unread bytes never do. Nothing is
    /// consumed before the read completes, so if the body then fails every byte stays
    /// readable ([`Reader::read1`], [`Reader::read_nonblock`], [`Reader::peek`]).
    ///
    /// ```
    /// # if py_buffer_core::__built_for_loom() { return; } // loom locks need a loom model
    /// use py_buffer_core::{channel, Options};
    /// let (writer, reader) = channel(Options::new().max_buffered(4));
    /// let producer = std::thread::spawn(move || {
    ///     writer.write(b"0123456789").wait().unwrap();
    ///     writer.close().unwrap();
    /// });
    /// assert_eq!(reader.read(10).wait().unwrap(), &b"0123456789"[..]);
    /// producer.join().unwrap();
    /// ```
    pub fn read(&self, n: usize) -> ReadBytes<'_> {
        self.take(ReadKind::Exact(n))
    }

    /// Reads everything up to EOF.
    pub fn read_to_end(&self) -> ReadBytes<'_> {
        self.take(ReadKind::ToEnd)
    }

    /// Reads between 1 and `n` bytes, waiting only while none are there; empty at EOF.
    pub fn read1(&self, n: usize) -> ReadBytes<'_> {
        self.take(ReadKind::Available(n))
    }

    /// Reads one line (through `\n`), at most `limit` bytes; the rest of the body at EOF.
    pub fn readline(&self, limit: Option<usize>) -> ReadBytes<'_> {
        self.read_until(b'\n', limit)
    }

    /// Reads through the first `delim`, at most `limit` bytes; the rest of the body at EOF.
    pub fn read_until(&self, delim: u8, limit: Option<usize>) -> ReadBytes<'_> {
        self.take(ReadKind::Until { delim, limit })
    }

    /// Reads whole lines until their total reaches `hint` bytes (`None`: every line to EOF).
    pub fn readlines(&self, hint: Option<usize>) -> ReadLines<'_> {
        let kind = ReadKind::Lines {
            hint: hint.unwrap_or(0),
        };
        Take::op(&self.shared, kind, to_lines as ToLines)
    }

    /// Reads between 1 and `dst.len()` bytes into `dst`, waiting only while none are there;
    /// resolves to the count, 0 at a clean EOF (`std::io::Read` semantics, copying once).
    ///
    /// ```
    /// # if py_buffer_core::__built_for_loom() { return; } // loom locks need a loom model
    /// let (writer, reader) = py_buffer_core::channel(Default::default());
    /// writer.try_write(b"abc").unwrap();
    /// let mut buf = [0u8; 8];
    /// assert_eq!(reader.read_into(&mut buf).wait().unwrap(), 3);
    /// assert_eq!(&buf[..3], b"abc");
    /// ```
    pub fn read_into<'a>(&'a self, dst: &'a mut [u8]) -> Op<ReadInto<'a>> {
        ReadInto::op(&self.shared, dst)
    }

    /// Reads up to `n` of the bytes already there, without waiting.
    ///
    /// Empty when nothing is there; the body's error once it failed and nothing is left.
    pub fn read_nonblock(&self, n: usize) -> Result<Bytes> {
        self.try_read_with(ReadKind::Immediate(n), to_bytes)
            .expect("an immediate read never waits")
    }

    /// Any read, with the taken bytes handed to `consume` while the lock is held.
    pub fn read_with<T, F>(&self, kind: ReadKind, consume: F) -> Op<Take<'_, F>>
    where
        F: for<'s> FnOnce(Slices<'s>) -> T,
    {
        Take::op(&self.shared, kind, consume)
    }

    /// One attempt at a read: `None` when it would have to wait.
    ///
    /// Non-blocking bindings (the Erlang NIF) call this again after each
    /// [`crate::Edge::Readable`]: an attempt that returns `None` while the bound is full sets
    /// the unread bytes aside (see [`Reader::read`]), so the writer gets room and a read
    /// larger than the bound completes after a few attempts instead of waiting forever.
    pub fn try_read_with<T>(
        &self,
        kind: ReadKind,
        consume: impl for<'s> FnOnce(Slices<'s>) -> T,
    ) -> Option<Result<T>> {
        let attempt = self.try_read_or_keep(kind, |slices| {
            Ok::<_, std::convert::Infallible>(consume(slices))
        })?;
        Some(attempt.map(|Ok(taken)| taken))
    }

    /// [`Reader::try_read_with`] for a `consume` that can fail: the bytes are taken only when
    /// it returns `Ok`, so a binding whose result could not be built (its allocation failed:
    /// Python's `MemoryError`) leaves every byte for the next read.
    ///
    /// ```
    /// # if py_buffer_core::__built_for_loom() { return; } // loom locks need a loom model
    /// use py_buffer_core::ReadKind;
    /// let (writer, reader) = py_buffer_core::channel(Default::default());
    /// writer.try_write(b"abc").unwrap();
    /// let failed = reader.try_read_or_keep(ReadKind::Available(8), |_| Err::<(), _>("no memory"));
    /// assert_eq!(failed, Some(Ok(Err("no memory"))));
    /// assert_eq!(reader.read_nonblock(8).unwrap().as_ref(), b"abc"); // nothing was taken
    /// ```
    pub fn try_read_or_keep<T, E>(
        &self,
        kind: ReadKind,
        consume: impl for<'s> FnOnce(Slices<'s>) -> std::result::Result<T, E>,
    ) -> Option<Result<std::result::Result<T, E>>> {
        self.shared.update(
            |state, fx| match decide_mut(&kind, state, &mut Scan::default(), fx) {
                Decision::Wait => None,
                Decision::Fail(e) => Some(Err(e)),
                Decision::Take(n) => Some(Ok(state.take_if_ok(n, consume, fx))),
            },
        )
    }

    /// A peek that may wait: `None` while no byte is there; else up to `n` unread bytes
    /// handed to `consume` under the lock, without taking them (empty at a clean EOF; the
    /// body's error once it failed with nothing left). What [`Reader::fill`] decides, for a
    /// binding that builds its own result from the slices (no joined copy of the blocks).
    pub fn try_peek_with<T>(
        &self,
        n: usize,
        consume: impl for<'s> FnOnce(Slices<'s>) -> T,
    ) -> Option<Result<T>> {
        let kind = ReadKind::Available(n);
        self.shared.update(
            |state, fx| match decide_mut(&kind, state, &mut Scan::default(), fx) {
                Decision::Wait => None,
                Decision::Fail(e) => Some(Err(e)),
                Decision::Take(n) => Some(Ok(consume(Slices::new(&state.store, state.pos, n)))),
            },
        )
    }

    /// `readline()`'s fast path for bindings that read line by line: if the next line (through
    /// `delim`, no limit) is already there inside one block of an unbounded buffer, passes it
    /// to `consume` under one short lock hold and returns `consume`'s result. `None` when that
    /// does not hold (the line spans blocks or has not fully arrived, EOF, an error, bounded
    /// mode): then [`Reader::try_read_with`] with [`ReadKind::Until`] decides, as it would have
    /// anyway; nothing was taken.
    ///
    /// ```
    /// # if py_buffer_core::__built_for_loom() { return; } // loom locks need a loom model
    /// let (writer, reader) = py_buffer_core::channel(Default::default());
    /// writer.try_write(b"a\nb").unwrap();
    /// assert_eq!(reader.try_line_in_block(b'\n', |line| line.to_vec()), Some(b"a\n".to_vec()));
    /// assert_eq!(reader.try_line_in_block(b'\n', |line| line.to_vec()), None); // "b" is not a line yet
    /// ```
    pub fn try_line_in_block<T>(&self, delim: u8, consume: impl FnOnce(&[u8]) -> T) -> Option<T> {
        self.shared.lock().take_line_in_block(delim, consume)
    }

    /// Resolves once a read of `kind` could complete or fail, without taking anything.
    pub fn ready(&self, kind: ReadKind) -> Op<Ready<'_>> {
        Ready::op(&self.shared, kind)
    }

    /// Resolves once the reader side is closed or the body aborted, even after a clean EOF
    /// (an ASGI server's `http.disconnect`); takes nothing.
    ///
    /// ```
    /// # if py_buffer_core::__built_for_loom() { return; } // loom locks need a loom model
    /// let (writer, reader) = py_buffer_core::channel(Default::default());
    /// writer.close().unwrap();
    /// let mut hang_up = reader.hung_up();
    /// assert!(hang_up.try_now().is_none()); // a clean EOF is not a hang-up
    /// reader.close();
    /// hang_up.wait();
    /// ```
    pub fn hung_up(&self) -> Op<HangUp<'_>> {
        HangUp::op(&self.shared)
    }

    /// Resolves to up to `n` unread bytes without consuming them, waiting only while none are
    /// there; empty at a clean EOF, the error of a failed body once nothing is left.
    pub fn fill(&self, n: usize) -> Op<Fill<'_>> {
        Fill::op(&self.shared, n)
    }

    /// Up to `n` unread bytes without consuming them and without waiting.
    pub fn peek(&self, n: usize) -> Bytes {
        let state = self.shared.lock();
        let n = n.min(state.unread() as usize);
        state.store.to_bytes(state.pos, n)
    }

    /// Skips up to `n` unread bytes without waiting; returns how many were skipped.
    pub fn consume(&self, n: usize) -> usize {
        self.shared.update(|state, fx| {
            let n = n.min(state.unread() as usize);
            state.advance(n as u64, fx);
            n
        })
    }

    /// All unread bytes as one contiguous, immutable [`Bytes`] (a zero-copy export: later
    /// writes never change or invalidate it). Unread bytes over several blocks are merged
    /// into one allocation; when it cannot be made, this aborts like any Rust allocation
    /// ([`Reader::try_snapshot`] returns `None` instead).
    pub fn snapshot(&self) -> Bytes {
        self.try_snapshot().unwrap_or_else(|| {
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u8; 64 * 1024]>())
        })
    }

    /// [`Reader::snapshot`], or `None` when the memory to merge blocks into cannot be
    /// allocated (nothing changed: a binding raises `MemoryError`).
    pub fn try_snapshot(&self) -> Option<Bytes> {
        let mut state = self.shared.lock();
        let pos = state.pos;
        state.store.contiguous_from(pos)
    }

    /// Bytes that can be read without waiting.
    pub fn readable_amount(&self) -> usize {
        self.shared.lock().unread() as usize
    }

    /// True when every byte was read and no more can come (clean EOF or failed body).
    pub fn at_eof(&self) -> bool {
        self.shared.lock().at_eof()
    }

    /// Moves the read position within the bytes written and still held.
    ///
    /// `SeekFrom::End` needs the end to be known (closed, aborted, or content length reached).
    pub fn seek(&self, to: SeekFrom) -> Result<u64> {
        self.shared.update(|state, fx| state.seek(to, fx))
    }

    /// The read position.
    pub fn tell(&self) -> u64 {
        self.shared.lock().pos
    }

    /// Where `needle` first occurs in the unread bytes `[start, end)`, relative to the read
    /// position (`end` `None`: to the last byte written). Never waits.
    pub fn find(&self, needle: &[u8], start: usize, end: Option<usize>) -> Option<usize> {
        let state = self.shared.lock();
        let unread = state.unread();
        let end = end.map_or(unread, |e| (e as u64).min(unread));
        let start = start as u64;
        if start > end {
            return None;
        }
        let pos = state.pos;
        state
            .store
            .find(needle, pos + start, pos + end)
            .map(|at| (at - pos) as usize)
    }

    /// Closes the reader side: writes fail from now on, blocked readers wake, and reads return
    /// what remains and then EOF.
    pub fn close(&self) {
        self.shared.update(|state, fx| state.close_reader(fx));
    }

    /// A new writer handle for this buffer.
    pub fn writer(&self) -> Writer {
        self.shared.add_writer();
        Writer::from_shared(Arc::clone(&self.shared))
    }

    /// A summary of the buffer's state.
    pub fn info(&self) -> Info {
        self.shared.lock().info()
    }

    /// Registers (or with `None` removes) the observer told about readiness edges.
    ///
    /// # Leaks
    /// The buffer owns its observer: an observer that captures a [`Reader`] or [`Writer`] of
    /// the same buffer is a reference cycle. Capture [`Reader::downgrade`] /
    /// [`Writer::downgrade`] instead. See [`Observer`] for when the buffer releases it.
    pub fn set_observer(&self, observer: Option<std::sync::Arc<dyn Observer>>) {
        self.shared.set_observer(observer);
    }

    /// A handle that is not counted as a reader and does not keep the buffer alive: what an
    /// [`Observer`] should capture to call back into its buffer.
    ///
    /// ```
    /// # if py_buffer_core::__built_for_loom() { return; } // loom locks need a loom model
    /// use std::sync::Arc;
    /// use py_buffer_core::{channel, Edge, Options};
    ///
    /// let (writer, reader) = channel(Options::new());
    /// let weak = reader.downgrade();
    /// reader.set_observer(Some(Arc::new(move |edge: Edge| {
    ///     if let Some(reader) = weak.upgrade() {
    ///         let _unread = reader.info().unread;
    ///     }
    /// })));
    /// writer.try_write(b"x").unwrap();
    /// ```
    #[cfg(not(loom))]
    pub fn downgrade(&self) -> crate::WeakReader {
        crate::WeakReader(Shared::downgrade(&self.shared))
    }
}

impl Clone for Reader {
    /// Another handle on the same body and read position.
    fn clone(&self) -> Self {
        Self::from_shared(Arc::clone(&self.shared))
    }
}

impl Drop for Reader {
    /// Dropping the last reader handle closes the reading side, as [`Reader::close`] does:
    /// writers get [`crate::Error::ReaderClosed`] instead of waiting (bounded) or piling up
    /// bytes nobody can read (unbounded), and the observer is told [`crate::Edge::ReaderClosed`].
    fn drop(&mut self) {
        self.shared.remove_reader();
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("info", &self.info())
            .finish()
    }
}
