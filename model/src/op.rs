//! The operations a sequence is made of, and what each one returns.

use std::io::SeekFrom;

use py_buffer_core::Error;

/// One step of a sequence, applied to the model and to the real buffer.
///
/// Reads go through the current reader handle ([`Op::Switch`] picks another); writes,
/// `Close` and `Abort` through the current writer handle. With no handle of that side left,
/// the step is [`Out::Skipped`].
#[derive(Debug, Clone)]
pub enum Op {
    /// `data` written as pieces cut at `splits` (indices into `data`, taken modulo its length
    /// plus one); `owned` writes go through `try_write_bytes` (large ones are adopted).
    Write {
        /// The bytes.
        data: Vec<u8>,
        /// Where to cut them.
        splits: Vec<usize>,
        /// `try_write_bytes` instead of `try_write`.
        owned: bool,
    },
    /// `read(n)`.
    Read(usize),
    /// `read_to_end()`.
    ReadToEnd,
    /// `read1(n)`.
    Read1(usize),
    /// `read_into` a buffer of this size (`std::io::Read` semantics).
    ReadInto(usize),
    /// `readline(limit)`.
    Readline(Option<usize>),
    /// `read_until(delim, limit)`.
    ReadUntil(u8, Option<usize>),
    /// `readlines(hint)`.
    Readlines(Option<usize>),
    /// `read_nonblock(n)`.
    ReadNonblock(usize),
    /// `peek(n)`.
    Peek(usize),
    /// `fill(n)`.
    Fill(usize),
    /// `consume(n)`.
    Consume(usize),
    /// `seek(to)`.
    Seek(SeekFrom),
    /// `find(needle, start, end)`.
    Find(Vec<u8>, usize, Option<usize>),
    /// `snapshot()`; the snapshot is kept and checked unchanged at the end.
    Snapshot,
    /// `info()`, `readable_amount()`, `at_eof()`, `tell()`.
    State,
    /// `close()` on the current writer.
    Close,
    /// `abort(..)` on the current writer.
    Abort,
    /// `close()` on the current reader.
    ReaderClose,
    /// Drops writer handle `i % writers` (the last one unclosed aborts the body).
    DropWriter(usize),
    /// Drops reader handle `i % readers` (the last one closes the reading side).
    DropReader(usize),
    /// A new writer handle: a clone of a writer, or `Reader::writer` if none is left.
    NewWriter,
    /// A new reader handle: a clone of a reader, or `Writer::reader` if none is left.
    NewReader,
    /// Makes reader handle `i % readers` and writer handle `i % writers` the current ones.
    Switch(usize),
}

/// What a step returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// Bytes read, peeked or snapshotted.
    Bytes(Vec<u8>),
    /// `readlines`.
    Lines(Vec<Vec<u8>>),
    /// The operation would wait (polled once, then dropped).
    Wait,
    /// An error.
    Err(Error),
    /// A count (bytes written or consumed).
    Count(usize),
    /// A seek's result.
    Pos(Result<u64, Error>),
    /// A find's result.
    Found(Option<usize>),
    /// `close` / `abort`.
    Unit(Result<(), Error>),
    /// The observable state.
    State {
        /// Bytes written.
        written: u64,
        /// The read position.
        pos: u64,
        /// Unread bytes.
        unread: usize,
        /// `at_eof()`.
        eof: bool,
        /// No more bytes can arrive.
        ended: bool,
        /// Unread bytes set aside by a read larger than the bound.
        set_aside: u64,
    },
    /// Nothing comparable (handle bookkeeping, or no handle to run it on).
    Skipped,
}

/// `data` cut at `splits` (each taken modulo `data.len() + 1`).
pub(crate) fn pieces<'a>(data: &'a [u8], splits: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = splits.iter().map(|&s| s % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for cut in cuts.into_iter().chain([data.len()]) {
        out.push(&data[at..cut]);
        at = cut;
    }
    out
}
