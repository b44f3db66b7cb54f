//! The state behind one buffer's lock, and every transition it can make.
//!
//! Transitions record what they make possible in [`Effects`] (who to wake, which edges to
//! announce); [`crate::shared::Shared`] delivers those after the lock is released, so nobody is
//! woken before the change they are woken for is visible.

use std::io::SeekFrom;

use bytes::{Bytes, BytesMut};

use crate::edge::{Edge, EdgeSet, Observer};
use crate::error::{AbortReason, Error, Result, SeekError};
use crate::options::Options;
use crate::slices::Slices;
use crate::storage::Storage;
use std::sync::Arc;

/// How the writer side ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    Open,
    Closed,
    Aborted(AbortReason),
}

/// How reads end once the unread bytes are exhausted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// A clean EOF: short reads, then empty ones.
    Clean,
    /// The body failed: reads that cannot be met raise this.
    Failed(Error),
}

/// Writes at least this long are copied outside the lock in bounded mode.
pub(crate) const COPY_OUTSIDE_MIN: usize = 16 * 1024;

/// How a write went under the lock.
#[derive(Debug)]
pub(crate) enum WriteStart {
    /// This many bytes were appended.
    Done(usize),
    /// Room for this many bytes was reserved; copy them into the block, then finish.
    Reserved(usize, BytesMut),
}

/// What a transition asks the caller to do once the lock is released.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub(crate) wake_readers: bool,
    pub(crate) wake_writers: bool,
    pub(crate) edges: EdgeSet,
}

/// A point-in-time summary of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    /// Bytes written so far.
    pub written: u64,
    /// The read position.
    pub position: u64,
    /// Bytes written and not yet read (`written - position`).
    pub unread: u64,
    /// Bytes held in memory, read or not.
    pub retained: u64,
    /// The announced content length, if any.
    pub content_length: Option<u64>,
    /// The bound on unread bytes, if any.
    pub max_buffered: Option<usize>,
    /// The writer called `close()`.
    pub closed: bool,
    /// The body was aborted, and why.
    pub aborted: Option<AbortReason>,
    /// Unread bytes a read that needs more than the bound set aside (see
    /// [`crate::Reader::read`]): they stay unread (and readable by any read) but no longer count
    /// against `max_buffered`. `unread - set_aside` never exceeds the bound.
    pub set_aside: u64,
    /// The reader called `close()`.
    pub reader_closed: bool,
    /// A reader has had to wait for bytes (see [`crate::Edge::Demand`]).
    pub demanded: bool,
    /// No more bytes will arrive (closed, aborted, reader closed, or content length reached).
    pub ended: bool,
}

pub(crate) struct State {
    pub(crate) store: Storage,
    pub(crate) pos: u64,
    /// Bytes in `[pos, aside_to)` were set aside by a read waiting beyond the bound: they
    /// do not count against `max_buffered`.
    aside_to: u64,
    content_length: Option<u64>,
    max_buffered: Option<usize>,
    end: End,
    reader_closed: bool,
    /// Bytes accepted by writes that are copying them outside the lock (bounded mode); they
    /// count against the bound and the content length until they land.
    reserved: u64,
    /// A writer was refused room; the next read that makes room announces `Writable`.
    writer_waiting: bool,
    eof_announced: bool,
    /// A reader had to wait for bytes: [`Edge::Demand`] was raised (once per buffer).
    demanded: bool,
    pub(crate) observer: Option<Arc<dyn Observer>>,
}

impl State {
    pub(crate) fn new(options: &Options) -> Self {
        Self {
            store: Storage::new(options.content_length, options.max_buffered),
            pos: 0,
            aside_to: 0,
            content_length: options.content_length,
            max_buffered: options.max_buffered,
            end: End::Open,
            reader_closed: false,
            reserved: 0,
            writer_waiting: false,
            eof_announced: false,
            demanded: false,
            observer: None,
        }
    }

    fn length_reached(&self) -> bool {
        self.content_length == Some(self.store.end())
    }

    /// True once no more bytes can arrive.
    pub(crate) fn ended(&self) -> bool {
        self.reader_closed || self.end != End::Open || self.length_reached()
    }

    /// True once no edge can come any more: the reading side closed and the end of the body
    /// was announced. The observer is released then (see [`crate::Observer`], "Leaks").
    pub(crate) fn finished(&self) -> bool {
        self.reader_closed && self.eof_announced
    }

    /// True once the reader closed or the producer aborted: the exchange is over, whatever
    /// was or was not read (ASGI's "disconnect").
    pub(crate) fn hung_up(&self) -> bool {
        self.reader_closed || matches!(self.end, End::Aborted(_))
    }

    /// How reads end, once the writer side is over; `None` while bytes may still arrive.
    pub(crate) fn ending(&self) -> Option<Ending> {
        if self.reader_closed || self.length_reached() {
            return Some(Ending::Clean);
        }
        match &self.end {
            End::Open => None,
            End::Aborted(reason) => Some(Ending::Failed(Error::Aborted(reason.clone()))),
            End::Closed => match self.content_length {
                Some(expected) => Some(Ending::Failed(Error::Truncated {
                    expected,
                    got: self.store.end(),
                })),
                None => Some(Ending::Clean),
            },
        }
    }

    pub(crate) fn unread(&self) -> u64 {
        self.store.end() - self.pos
    }

    /// The unread bytes that count against the bound: those not set aside.
    fn counted(&self) -> u64 {
        self.store.end() - self.pos.max(self.aside_to)
    }

    /// Called when a read of unread bytes must wait for more. If the bound is what keeps the
    /// writer from adding them (the read needs more than `max_buffered` bytes: a long
    /// `read(n)`, `read()`, a line longer than the bound), the unread bytes are set aside for
    /// the read: they stay unread, at the read position, but no longer count against the
    /// bound, so the writer gets room and the read completes, as a read over a pipe does.
    /// Nothing is consumed, so a body that then fails loses nothing (read1/peek still see
    /// every byte).
    pub(crate) fn set_aside(&mut self, fx: &mut Effects) {
        let Some(max) = self.max_buffered else {
            return;
        };
        if self.counted() + self.reserved < max as u64 {
            return;
        }
        self.aside_to = self.store.end();
        if self.writer_waiting {
            self.writer_waiting = false;
            fx.wake_writers = true;
            fx.edges.insert(Edge::Writable);
        }
    }

    /// Called when a read must wait for bytes that have not arrived: the first time while the
    /// body is not complete, raises [`Edge::Demand`] (once per buffer).
    pub(crate) fn demand(&mut self, fx: &mut Effects) {
        if !self.demanded && !self.ended() {
            self.demanded = true;
            fx.edges.insert(Edge::Demand);
        }
    }

    /// True when every byte was read and no more will come (whatever the reason).
    pub(crate) fn at_eof(&self) -> bool {
        self.unread() == 0 && self.ended()
    }

    #[inline]
    fn writable_check(&self) -> Result<()> {
        if self.reader_closed {
            return Err(Error::ReaderClosed);
        }
        match &self.end {
            End::Open => Ok(()),
            End::Closed => Err(Error::Closed),
            End::Aborted(reason) => Err(Error::Aborted(reason.clone())),
        }
    }

    /// How many of `len` bytes a write may append now (all, some, or none in bounded mode).
    #[inline]
    fn accept(&mut self, len: usize, bounded: bool) -> Result<usize> {
        self.writable_check()?;
        let written = self.store.end() + self.reserved;
        if let Some(content_length) = self.content_length {
            let attempted = written + len as u64;
            if attempted > content_length {
                return Err(Error::Overflow {
                    content_length,
                    attempted,
                });
            }
        }
        let accepted = match self.max_buffered {
            Some(max) if bounded => {
                let room = (max as u64).saturating_sub(self.counted() + self.reserved);
                len.min(usize::try_from(room).unwrap_or(usize::MAX))
            }
            _ => len,
        };
        if accepted < len {
            self.writer_waiting = true;
        }
        Ok(accepted)
    }

    #[inline]
    fn appended(&mut self, n: usize, fx: &mut Effects) {
        if n == 0 {
            return;
        }
        fx.wake_readers = true;
        fx.edges.insert(Edge::Readable);
        if self.length_reached() {
            self.announce_eof(fx);
        }
    }

    fn announce_eof(&mut self, fx: &mut Effects) {
        fx.wake_readers = true;
        fx.wake_writers = true;
        if !self.eof_announced {
            self.eof_announced = true;
            fx.edges.insert(Edge::Eof);
        }
    }

    /// Starts a write of as much of `data` as the bound allows: small writes (and every write
    /// in the default mode) are copied at once; in bounded mode a large one reserves its
    /// room and gets a block to fill after the lock is released, so the copy overlaps with
    /// readers (finish with [`State::write_finish`]).
    pub(crate) fn write_start(&mut self, data: &[u8], fx: &mut Effects) -> Result<WriteStart> {
        if data.len() < COPY_OUTSIDE_MIN {
            return self.write_small(data, fx).map(WriteStart::Done);
        }
        let n = self.accept(data.len(), true)?;
        if n < COPY_OUTSIDE_MIN || self.max_buffered.is_none() {
            self.store.append(&data[..n]);
            self.appended(n, fx);
            return Ok(WriteStart::Done(n));
        }
        self.reserved += n as u64;
        Ok(WriteStart::Reserved(n, self.store.take_block(n)))
    }

    /// [`State::write_start`] for writes shorter than [`COPY_OUTSIDE_MIN`], which are always
    /// copied at once.
    #[inline]
    pub(crate) fn write_small(&mut self, data: &[u8], fx: &mut Effects) -> Result<usize> {
        let n = self.accept(data.len(), true)?;
        self.store.append(&data[..n]);
        self.appended(n, fx);
        Ok(n)
    }

    /// Lands a block filled outside the lock; fails (writing nothing) if the body ended or
    /// the reader closed meanwhile.
    pub(crate) fn write_finish(&mut self, block: BytesMut, fx: &mut Effects) -> Result<usize> {
        let n = block.len();
        self.reserved -= n as u64;
        if let Err(e) = self.writable_check() {
            self.store.return_block(block);
            // The reservation may have been what kept another writer waiting.
            fx.wake_writers = true;
            return Err(e);
        }
        self.store.push_block(block.freeze());
        self.appended(n, fx);
        Ok(n)
    }

    /// Appends as much of `data` as the bound allows, advancing it; returns how much.
    pub(crate) fn write_bytes(&mut self, data: &mut Bytes, fx: &mut Effects) -> Result<usize> {
        let n = self.accept(data.len(), true)?;
        self.store.append_bytes(data.split_to(n));
        self.appended(n, fx);
        Ok(n)
    }

    /// Appends all of `data` even beyond the bound (after a writer was granted room).
    pub(crate) fn write_bytes_unbounded(&mut self, data: Bytes, fx: &mut Effects) -> Result<()> {
        let n = self.accept(data.len(), false)?;
        self.store.append_bytes(data);
        self.appended(n, fx);
        Ok(())
    }

    /// In bounded mode, whether a writer could append at least one byte now.
    pub(crate) fn has_room(&mut self) -> Result<bool> {
        self.writable_check()?;
        let room = match self.max_buffered {
            Some(max) => self.counted() + self.reserved < max as u64,
            None => true,
        };
        if !room {
            self.writer_waiting = true;
        }
        Ok(room)
    }

    pub(crate) fn close(&mut self, fx: &mut Effects) -> Result<()> {
        match &self.end {
            End::Open => {
                self.end = End::Closed;
                self.announce_eof(fx);
                Ok(())
            }
            End::Closed => Ok(()),
            End::Aborted(reason) => Err(Error::Aborted(reason.clone())),
        }
    }

    pub(crate) fn abort(&mut self, reason: AbortReason, fx: &mut Effects) -> Result<()> {
        match &self.end {
            End::Open => {
                self.end = End::Aborted(reason);
                self.announce_eof(fx);
                Ok(())
            }
            End::Closed => Err(Error::Closed),
            End::Aborted(_) => Ok(()),
        }
    }

    pub(crate) fn close_reader(&mut self, fx: &mut Effects) {
        if self.reader_closed {
            return;
        }
        self.reader_closed = true;
        fx.wake_readers = true;
        fx.wake_writers = true;
        fx.edges.insert(Edge::ReaderClosed);
    }

    /// Consumes `n` bytes, handing them to `f` first.
    pub(crate) fn take<T>(
        &mut self,
        n: usize,
        f: impl FnOnce(Slices<'_>) -> T,
        fx: &mut Effects,
    ) -> T {
        let out = f(Slices::new(&self.store, self.pos, n));
        self.advance(n as u64, fx);
        out
    }

    /// [`State::take`] for an `f` that can fail: moves past the `n` bytes only when it
    /// returns `Ok`.
    pub(crate) fn take_if_ok<T, E>(
        &mut self,
        n: usize,
        f: impl FnOnce(Slices<'_>) -> Result<T, E>,
        fx: &mut Effects,
    ) -> Result<T, E> {
        let out = f(Slices::new(&self.store, self.pos, n));
        if out.is_ok() {
            self.advance(n as u64, fx);
        }
        out
    }

    /// The fast path of a delimited read with no limit (`readline()`, line iteration): when the
    /// next `delim` lies in the block holding the read position and taking bytes has no
    /// effects (an unbounded buffer: nothing is released, no writer waits for room), passes
    /// the line, delimiter included, to `consume` and moves past it. `None` when either does
    /// not hold: the caller takes the general path ([`crate::read_kind::ReadKind::Until`]),
    /// which decides the same way and also handles lines across blocks, waiting and EOF.
    pub(crate) fn take_line_in_block<T>(
        &mut self,
        delim: u8,
        consume: impl FnOnce(&[u8]) -> T,
    ) -> Option<T> {
        if self.max_buffered.is_some() {
            return None;
        }
        let piece = self.store.piece_at(self.pos);
        let n = memchr::memchr(delim, piece)? + 1;
        let out = consume(&piece[..n]);
        self.pos += n as u64;
        Some(out)
    }

    /// Moves the read position forward by `n` bytes already known to be written.
    pub(crate) fn advance(&mut self, n: u64, fx: &mut Effects) {
        if n == 0 {
            return;
        }
        self.pos += n;
        if self.max_buffered.is_some() {
            self.store.release_before(self.pos);
            if self.writer_waiting {
                self.writer_waiting = false;
                fx.wake_writers = true;
                fx.edges.insert(Edge::Writable);
            }
        }
    }

    pub(crate) fn seek(&mut self, to: SeekFrom, fx: &mut Effects) -> Result<u64> {
        let written = self.store.end();
        let target: i128 = match to {
            SeekFrom::Start(n) => i128::from(n),
            SeekFrom::Current(delta) => i128::from(self.pos) + i128::from(delta),
            SeekFrom::End(delta) => {
                if !self.ended() {
                    return Err(SeekError::EndUnknown.into());
                }
                i128::from(written) + i128::from(delta)
            }
        };
        let first = self.store.first();
        if target < i128::from(first) {
            return Err(SeekError::BeforeStart { target, first }.into());
        }
        if target > i128::from(written) {
            return Err(SeekError::PastEnd { target, written }.into());
        }
        let target = target as u64;
        if target > self.pos {
            self.advance(target - self.pos, fx);
        } else if target < self.pos {
            self.pos = target;
            fx.wake_readers = true;
        }
        Ok(self.pos)
    }

    pub(crate) fn info(&self) -> Info {
        Info {
            written: self.store.end(),
            position: self.pos,
            unread: self.unread(),
            set_aside: self.aside_to.saturating_sub(self.pos),
            retained: self.store.retained(),
            content_length: self.content_length,
            max_buffered: self.max_buffered,
            closed: self.end == End::Closed,
            aborted: match &self.end {
                End::Aborted(reason) => Some(reason.clone()),
                _ => None,
            },
            reader_closed: self.reader_closed,
            demanded: self.demanded,
            ended: self.ended(),
        }
    }
}
