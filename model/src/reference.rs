//! The reference model: the contract written as plain code over a `Vec<u8>`.
//!
//! Bounded mode: a read that must wait while the bound is full sets the unread bytes aside
//! (they stop counting against the bound), so reads larger than the bound complete across
//! later writes. Handle counts: the last writer dropped unclosed aborts with
//! `WriterGone`; the last reader dropped closes the reading side.

use std::io::SeekFrom;

use py_buffer_core::{AbortReason, Error, SeekError};

use crate::op::{pieces, Op, Out};

#[derive(Debug, Clone, PartialEq)]
enum End {
    Open,
    Closed,
    Aborted(AbortReason),
}

/// The reference: everything ever written, the position, how the body ended, and how many
/// handles of each side are left.
pub struct Model {
    data: Vec<u8>,
    pos: usize,
    /// Bytes before this position were set aside by a read waiting beyond the bound.
    aside_to: usize,
    content_length: Option<usize>,
    max_buffered: Option<usize>,
    end: End,
    reader_closed: bool,
    readers: usize,
    writers: usize,
}

/// How reads end once the unread bytes run out.
enum Ending {
    Open,
    Clean,
    Failed(Error),
}

impl Model {
    /// A fresh buffer with these options and one handle of each side.
    pub fn new(content_length: Option<usize>, max_buffered: Option<usize>) -> Self {
        Self {
            data: Vec::new(),
            pos: 0,
            aside_to: 0,
            content_length,
            // `Options::max_buffered` treats 0 as 1.
            max_buffered: max_buffered.map(|m| m.max(1)),
            end: End::Open,
            reader_closed: false,
            readers: 1,
            writers: 1,
        }
    }

    /// The read position.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// True while some handle keeps the buffer alive.
    pub fn alive(&self) -> bool {
        self.readers + self.writers > 0
    }

    fn avail(&self) -> usize {
        self.data.len() - self.pos
    }

    fn unread(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    /// Unread bytes that count against the bound.
    fn counted(&self) -> usize {
        self.data.len() - self.pos.max(self.aside_to)
    }

    /// A read had to wait: if the bound is full, its unread bytes are set aside.
    fn waited(&mut self) {
        if let Some(max) = self.max_buffered {
            if self.counted() >= max {
                self.aside_to = self.data.len();
            }
        }
    }

    fn length_reached(&self) -> bool {
        self.content_length == Some(self.data.len())
    }

    fn ended(&self) -> bool {
        self.reader_closed || self.end != End::Open || self.length_reached()
    }

    fn ending(&self) -> Ending {
        if self.reader_closed || self.length_reached() {
            return Ending::Clean;
        }
        match &self.end {
            End::Open => Ending::Open,
            End::Aborted(r) => Ending::Failed(Error::Aborted(r.clone())),
            End::Closed => match self.content_length {
                Some(expected) => Ending::Failed(Error::Truncated {
                    expected: expected as u64,
                    got: self.data.len() as u64,
                }),
                None => Ending::Clean,
            },
        }
    }

    /// Takes `n` bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.data[self.pos..self.pos + n].to_vec();
        self.pos += n;
        out
    }

    /// A read that needs bytes that are not there: wait, take the rest, or fail.
    fn short(&mut self) -> Out {
        match self.ending() {
            Ending::Open => Out::Wait,
            Ending::Clean => Out::Bytes(self.take(self.avail())),
            Ending::Failed(e) => Out::Err(e),
        }
    }

    fn write_piece(&mut self, piece: &[u8]) -> Result<usize, Error> {
        if self.reader_closed {
            return Err(Error::ReaderClosed);
        }
        match &self.end {
            End::Open => {}
            End::Closed => return Err(Error::Closed),
            End::Aborted(r) => return Err(Error::Aborted(r.clone())),
        }
        if let Some(cl) = self.content_length {
            let attempted = self.data.len() + piece.len();
            if attempted > cl {
                return Err(Error::Overflow {
                    content_length: cl as u64,
                    attempted: attempted as u64,
                });
            }
        }
        let n = match self.max_buffered {
            Some(max) => piece.len().min(max.saturating_sub(self.counted())),
            None => piece.len(),
        };
        self.data.extend_from_slice(&piece[..n]);
        Ok(n)
    }

    fn until(&mut self, delim: u8, limit: Option<usize>) -> Out {
        let limit = limit.unwrap_or(usize::MAX);
        let window = &self.unread()[..self.avail().min(limit)];
        if let Some(i) = window.iter().position(|&b| b == delim) {
            return Out::Bytes(self.take(i + 1));
        }
        if self.avail() >= limit {
            return Out::Bytes(self.take(limit));
        }
        self.short()
    }

    fn lines(&mut self, hint: Option<usize>) -> Out {
        let hint = hint.filter(|&h| h > 0);
        // Whole lines, one by one, until their total reaches the hint.
        let mut total = 0;
        let mut lines = Vec::new();
        if let Some(hint) = hint {
            for line in self.unread().split_inclusive(|&b| b == b'\n') {
                if !line.ends_with(b"\n") {
                    break;
                }
                total += line.len();
                lines.push(line.to_vec());
                if total >= hint {
                    self.pos += total;
                    return Out::Lines(lines);
                }
            }
        }
        match self.short() {
            Out::Bytes(all) => Out::Lines(
                all.split_inclusive(|&b| b == b'\n')
                    .map(<[u8]>::to_vec)
                    .collect(),
            ),
            other => other,
        }
    }

    /// Applies `op`; `first` is the first byte the buffer still retains (seeks before it
    /// fail), read from the real buffer.
    pub fn apply(&mut self, op: &Op, first: u64) -> Out {
        let needs_reader = !matches!(
            op,
            Op::Write { .. }
                | Op::Close
                | Op::Abort
                | Op::DropWriter(_)
                | Op::DropReader(_)
                | Op::NewWriter
                | Op::NewReader
                | Op::Switch(_)
        );
        let needs_writer = matches!(op, Op::Write { .. } | Op::Close | Op::Abort);
        if (needs_reader && self.readers == 0) || (needs_writer && self.writers == 0) {
            return Out::Skipped;
        }
        let out = self.apply_op(op, first);
        if out == Out::Wait {
            self.waited();
        }
        out
    }

    fn apply_op(&mut self, op: &Op, first: u64) -> Out {
        match op {
            Op::Write { data, splits, .. } => {
                let mut total = 0;
                for piece in pieces(data, splits) {
                    match self.write_piece(piece) {
                        Ok(n) => total += n,
                        Err(e) => return Out::Err(e),
                    }
                }
                Out::Count(total)
            }
            Op::Read(n) => {
                if self.avail() >= *n {
                    Out::Bytes(self.take(*n))
                } else {
                    self.short()
                }
            }
            Op::ReadToEnd => self.short(),
            Op::Read1(n) | Op::Fill(n) | Op::ReadInto(n) => {
                let consume = matches!(op, Op::Read1(_) | Op::ReadInto(_));
                let out = if *n == 0 {
                    Out::Bytes(Vec::new())
                } else if self.avail() > 0 {
                    Out::Bytes(self.unread()[..self.avail().min(*n)].to_vec())
                } else {
                    match self.ending() {
                        Ending::Open => Out::Wait,
                        Ending::Clean => Out::Bytes(Vec::new()),
                        Ending::Failed(e) => Out::Err(e),
                    }
                };
                if let (true, Out::Bytes(b)) = (consume, &out) {
                    self.pos += b.len();
                }
                out
            }
            Op::ReadNonblock(n) => {
                if *n == 0 || self.avail() > 0 {
                    Out::Bytes(self.take(self.avail().min(*n)))
                } else if let Ending::Failed(e) = self.ending() {
                    Out::Err(e)
                } else {
                    Out::Bytes(Vec::new())
                }
            }
            Op::Readline(limit) => self.until(b'\n', *limit),
            Op::ReadUntil(delim, limit) => self.until(*delim, *limit),
            Op::Readlines(hint) => self.lines(*hint),
            Op::Peek(n) => Out::Bytes(self.unread()[..self.avail().min(*n)].to_vec()),
            Op::Consume(n) => {
                let n = (*n).min(self.avail());
                self.pos += n;
                Out::Count(n)
            }
            Op::Seek(to) => {
                let written = self.data.len() as i128;
                let target = match *to {
                    SeekFrom::Start(n) => i128::from(n),
                    SeekFrom::Current(d) => self.pos as i128 + i128::from(d),
                    SeekFrom::End(d) => {
                        if !self.ended() {
                            return Out::Pos(Err(SeekError::EndUnknown.into()));
                        }
                        written + i128::from(d)
                    }
                };
                if target < i128::from(first) {
                    return Out::Pos(Err(SeekError::BeforeStart { target, first }.into()));
                }
                if target > written {
                    return Out::Pos(Err(SeekError::PastEnd {
                        target,
                        written: written as u64,
                    }
                    .into()));
                }
                self.pos = target as usize;
                Out::Pos(Ok(self.pos as u64))
            }
            Op::Find(needle, start, end) => {
                let unread = self.unread();
                let end = end.unwrap_or(unread.len()).min(unread.len());
                if *start > end {
                    return Out::Found(None);
                }
                let hay = &unread[*start..end];
                let found = if needle.is_empty() {
                    Some(0)
                } else {
                    hay.windows(needle.len()).position(|w| w == &needle[..])
                };
                Out::Found(found.map(|i| i + start))
            }
            Op::Snapshot => Out::Bytes(self.unread().to_vec()),
            Op::State => Out::State {
                written: self.data.len() as u64,
                pos: self.pos as u64,
                unread: self.avail(),
                eof: self.avail() == 0 && self.ended(),
                ended: self.ended(),
                set_aside: self.aside_to.saturating_sub(self.pos) as u64,
            },
            Op::Close => Out::Unit(match &self.end {
                End::Open => {
                    self.end = End::Closed;
                    Ok(())
                }
                End::Closed => Ok(()),
                End::Aborted(r) => Err(Error::Aborted(r.clone())),
            }),
            Op::Abort => Out::Unit(match &self.end {
                End::Open => {
                    self.end = End::Aborted(AbortReason::other("model abort"));
                    Ok(())
                }
                End::Closed => Err(Error::Closed),
                End::Aborted(_) => Ok(()),
            }),
            Op::ReaderClose => {
                self.reader_closed = true;
                Out::Skipped
            }
            Op::DropWriter(_) => {
                if self.writers > 0 {
                    self.writers -= 1;
                    if self.writers == 0 && self.end == End::Open {
                        self.end = End::Aborted(AbortReason::WriterGone);
                    }
                }
                Out::Skipped
            }
            Op::DropReader(_) => {
                if self.readers > 0 {
                    self.readers -= 1;
                    if self.readers == 0 {
                        self.reader_closed = true;
                    }
                }
                Out::Skipped
            }
            Op::NewWriter => {
                if self.readers + self.writers > 0 {
                    self.writers += 1;
                }
                Out::Skipped
            }
            Op::NewReader => {
                if self.readers + self.writers > 0 {
                    self.readers += 1;
                }
                Out::Skipped
            }
            Op::Switch(_) => Out::Skipped,
        }
    }
}
