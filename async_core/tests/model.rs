//! Model test: random operation sequences run against the buffer and against a plain
//! reference model (a `Vec<u8>`, a position and an end state, written here from the spec),
//! which must agree on every result — bytes, errors, waits, positions and search hits.
//!
//! Covers writes with random splits (`try_write`, `try_write_bytes` of large owned blocks),
//! every read kind, seeks, finds, peeks, snapshots, close/abort/reader-close/writer-drop at
//! random points, with and without a content length, with and without `max_buffered` (where
//! the writer's `try_write` accepts partial counts). In bounded mode a read that must wait
//! while the bound is full sets the unread bytes aside (they stop counting against the bound),
//! so reads larger than the bound complete across later writes.
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::io::SeekFrom;

use bytes::Bytes;
use futures::FutureExt;
use proptest::prelude::*;
use py_buffer_core::{channel, AbortReason, Error, Options, SeekError};

#[derive(Debug, Clone)]
enum Op {
    /// `data` written as pieces cut at `splits` (indices into `data`).
    Write {
        data: Vec<u8>,
        splits: Vec<usize>,
        owned: bool,
    },
    Read(usize),
    ReadToEnd,
    Read1(usize),
    /// `read_into` a buffer of this size (`std::io::Read` semantics).
    ReadInto(usize),
    Readline(Option<usize>),
    ReadUntil(u8, Option<usize>),
    Readlines(Option<usize>),
    ReadNonblock(usize),
    Peek(usize),
    Fill(usize),
    Consume(usize),
    Seek(SeekFrom),
    Find(Vec<u8>, usize, Option<usize>),
    Snapshot,
    State,
    Close,
    Abort,
    ReaderClose,
    DropWriter,
}

#[derive(Debug, Clone, PartialEq)]
enum Out {
    Bytes(Vec<u8>),
    Lines(Vec<Vec<u8>>),
    Wait,
    Err(Error),
    Count(usize),
    Pos(Result<u64, Error>),
    Found(Option<usize>),
    Unit(Result<(), Error>),
    State {
        written: u64,
        pos: u64,
        unread: usize,
        eof: bool,
        ended: bool,
        set_aside: u64,
    },
    Skipped,
}

#[derive(Debug, Clone, PartialEq)]
enum End {
    Open,
    Closed,
    Aborted(AbortReason),
}

/// The reference: everything ever written, the position, and how the body ended.
struct Model {
    data: Vec<u8>,
    pos: usize,
    /// Bytes before this position were set aside by a read waiting beyond the bound.
    aside_to: usize,
    content_length: Option<usize>,
    max_buffered: Option<usize>,
    end: End,
    reader_closed: bool,
    writer_dropped: bool,
}

/// How reads end once the unread bytes run out.
enum Ending {
    Open,
    Clean,
    Failed(Error),
}

impl Model {
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

    fn apply(&mut self, op: &Op, first: u64) -> Out {
        let out = self.apply_op(op, first);
        if out == Out::Wait {
            self.waited();
        }
        out
    }

    fn apply_op(&mut self, op: &Op, first: u64) -> Out {
        match op {
            Op::Write { data, splits, .. } => {
                if self.writer_dropped {
                    return Out::Skipped;
                }
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
            Op::Close => {
                if self.writer_dropped {
                    return Out::Skipped;
                }
                Out::Unit(match &self.end {
                    End::Open => {
                        self.end = End::Closed;
                        Ok(())
                    }
                    End::Closed => Ok(()),
                    End::Aborted(r) => Err(Error::Aborted(r.clone())),
                })
            }
            Op::Abort => {
                if self.writer_dropped {
                    return Out::Skipped;
                }
                Out::Unit(match &self.end {
                    End::Open => {
                        self.end = End::Aborted(AbortReason::other("model abort"));
                        Ok(())
                    }
                    End::Closed => Err(Error::Closed),
                    End::Aborted(_) => Ok(()),
                })
            }
            Op::ReaderClose => {
                self.reader_closed = true;
                Out::Skipped
            }
            Op::DropWriter => {
                if !self.writer_dropped {
                    self.writer_dropped = true;
                    if self.end == End::Open {
                        self.end = End::Aborted(AbortReason::WriterGone);
                    }
                }
                Out::Skipped
            }
        }
    }
}

fn pieces<'a>(data: &'a [u8], splits: &[usize]) -> Vec<&'a [u8]> {
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

/// Runs `op` on the real buffer. Ops that would wait are polled once and dropped.
fn run(
    op: &Op,
    writer: &mut Option<py_buffer_core::Writer>,
    reader: &py_buffer_core::Reader,
    snapshots: &mut Vec<(Bytes, Vec<u8>)>,
) -> Out {
    let bytes = |r: Option<Result<Bytes, Error>>| match r {
        None => Out::Wait,
        Some(Ok(b)) => Out::Bytes(b.to_vec()),
        Some(Err(e)) => Out::Err(e),
    };
    match op {
        Op::Write {
            data,
            splits,
            owned,
        } => {
            let Some(w) = writer else {
                return Out::Skipped;
            };
            let mut total = 0;
            for piece in pieces(data, splits) {
                let written = if *owned {
                    let mut b = Bytes::copy_from_slice(piece);
                    let r = w.try_write_bytes(&mut b);
                    if let Ok(n) = r {
                        assert_eq!(b.len(), piece.len() - n, "accepted prefix split off");
                    }
                    r
                } else {
                    w.try_write(piece)
                };
                match written {
                    Ok(n) => total += n,
                    Err(e) => return Out::Err(e),
                }
                // The bound limits what a writer adds: a write that took bytes leaves at most
                // `max_buffered` counted unread bytes (a seek back may leave more, with the
                // writer refused until the reader drains; set-aside bytes do not count).
                let info = reader.info();
                if let (Some(max), true) = (info.max_buffered, total > 0) {
                    assert!(
                        info.unread - info.set_aside <= max as u64,
                        "a write went over the bound"
                    );
                }
            }
            Out::Count(total)
        }
        Op::Read(n) => bytes(reader.read(*n).now_or_never()),
        Op::ReadToEnd => bytes(reader.read_to_end().now_or_never()),
        Op::Read1(n) => bytes(reader.read1(*n).now_or_never()),
        Op::Fill(n) => bytes(reader.fill(*n).now_or_never()),
        Op::ReadInto(n) => {
            let mut buf = vec![0xEEu8; *n];
            match reader.read_into(&mut buf).now_or_never() {
                None => Out::Wait,
                Some(Ok(got)) => {
                    assert!(
                        buf[got..].iter().all(|&b| b == 0xEE),
                        "wrote past the count"
                    );
                    buf.truncate(got);
                    Out::Bytes(buf)
                }
                Some(Err(e)) => Out::Err(e),
            }
        }
        Op::ReadNonblock(n) => bytes(Some(reader.read_nonblock(*n))),
        Op::Readline(limit) => bytes(reader.readline(*limit).now_or_never()),
        Op::ReadUntil(d, limit) => bytes(reader.read_until(*d, *limit).now_or_never()),
        Op::Readlines(hint) => match reader.readlines(*hint).now_or_never() {
            None => Out::Wait,
            Some(Ok(lines)) => Out::Lines(lines.iter().map(|l| l.to_vec()).collect()),
            Some(Err(e)) => Out::Err(e),
        },
        Op::Peek(n) => Out::Bytes(reader.peek(*n).to_vec()),
        Op::Consume(n) => Out::Count(reader.consume(*n)),
        Op::Seek(to) => Out::Pos(reader.seek(*to)),
        Op::Find(needle, start, end) => Out::Found(reader.find(needle, *start, *end)),
        Op::Snapshot => {
            let snap = reader.snapshot();
            snapshots.push((snap.clone(), snap.to_vec()));
            Out::Bytes(snap.to_vec())
        }
        Op::State => {
            let info = reader.info();
            assert_eq!(info.unread as usize, reader.readable_amount());
            assert_eq!(info.position, reader.tell());
            Out::State {
                written: info.written,
                pos: info.position,
                unread: reader.readable_amount(),
                eof: reader.at_eof(),
                ended: info.ended,
                set_aside: info.set_aside,
            }
        }
        Op::Close => match writer {
            Some(w) => Out::Unit(w.close()),
            None => Out::Skipped,
        },
        Op::Abort => match writer {
            Some(w) => Out::Unit(w.abort(AbortReason::other("model abort"))),
            None => Out::Skipped,
        },
        Op::ReaderClose => {
            reader.close();
            Out::Skipped
        }
        Op::DropWriter => {
            *writer = None;
            Out::Skipped
        }
    }
}

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n'), Just(b'-')]
}

fn small() -> impl Strategy<Value = usize> {
    prop_oneof![0..8usize, 0..40usize, Just(usize::MAX)]
}

fn op() -> impl Strategy<Value = Op> {
    let data = prop_oneof![
        4 => prop::collection::vec(byte(), 0..24),
        1 => (4096usize..50_000, byte()).prop_map(|(n, b)| {
            let mut v = vec![b'a'; n];
            v[n / 2] = b;
            v[n - 1] = b'\n';
            v
        }),
    ];
    let write = (
        data,
        prop::collection::vec(any::<usize>(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(data, splits, owned)| Op::Write {
            data,
            splits,
            owned,
        });
    let limit = prop::option::of(0..30usize);
    let seek = prop_oneof![
        (0u64..80).prop_map(SeekFrom::Start),
        (-40i64..40).prop_map(SeekFrom::Current),
        (-60i64..5).prop_map(SeekFrom::End),
    ];
    prop_oneof![
        6 => write,
        2 => small().prop_map(Op::Read),
        1 => Just(Op::ReadToEnd),
        2 => small().prop_map(Op::Read1),
        2 => prop_oneof![0..40usize, 16_000..70_000usize].prop_map(Op::ReadInto),
        2 => limit.clone().prop_map(Op::Readline),
        1 => (byte(), limit.clone()).prop_map(|(d, l)| Op::ReadUntil(d, l)),
        1 => prop::option::of(prop_oneof![0..30usize, Just(usize::MAX)]).prop_map(Op::Readlines),
        1 => small().prop_map(Op::ReadNonblock),
        1 => small().prop_map(Op::Peek),
        1 => small().prop_map(Op::Fill),
        1 => small().prop_map(Op::Consume),
        2 => seek.prop_map(Op::Seek),
        2 => (prop::collection::vec(byte(), 0..4), 0..30usize, prop::option::of(0..40usize))
            .prop_map(|(n, s, e)| Op::Find(n, s, e)),
        1 => Just(Op::Snapshot),
        1 => Just(Op::State),
        1 => Just(Op::Close),
        1 => Just(Op::Abort),
        1 => Just(Op::ReaderClose),
        1 => Just(Op::DropWriter),
    ]
}

fn options() -> impl Strategy<Value = (Option<usize>, Option<usize>)> {
    let cl = prop::option::of(prop_oneof![0..60usize, 0..40_000usize, 0..200_000usize]);
    let max = prop::option::of(prop_oneof![
        1..40usize,
        4096..10_000usize,
        16_000..70_000usize
    ]);
    (cl, max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn buffer_matches_the_model(
        (content_length, max_buffered) in options(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let mut opts = Options::new();
        if let Some(cl) = content_length {
            opts = opts.content_length(cl as u64);
        }
        if let Some(max) = max_buffered {
            opts = opts.max_buffered(max);
        }
        let (w, reader) = channel(opts);
        let mut writer = Some(w);
        let mut model = Model {
            data: Vec::new(),
            pos: 0,
            aside_to: 0,
            content_length,
            max_buffered,
            end: End::Open,
            reader_closed: false,
            writer_dropped: false,
        };
        let mut snapshots = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            // The retained window is the storage's business (block sizes); the model takes
            // its start from the buffer but checks it never cuts into unread bytes.
            let info = reader.info();
            let first = info.written - info.retained;
            prop_assert!(first <= info.position, "released unread bytes at op {}", i);
            if max_buffered.is_none() {
                prop_assert_eq!(first, 0, "default mode retains everything");
            }
            let expected = model.apply(op, first);
            let actual = run(op, &mut writer, &reader, &mut snapshots);
            prop_assert_eq!(&actual, &expected, "op {} {:?}", i, op);
            prop_assert_eq!(reader.tell(), model.pos as u64, "position after op {}", i);
        }
        for (snap, copy) in &snapshots {
            prop_assert_eq!(&snap[..], &copy[..], "a snapshot changed");
        }
    }
}
