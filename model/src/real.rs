//! The runner: applies an [`Op`] to a real buffer through its handles.

use bytes::Bytes;
use futures::FutureExt;
use py_buffer_core::{AbortReason, Error, Info, Reader, Writer};

use crate::op::{pieces, Op, Out};

/// A real buffer: its live handles, the current ones, and the snapshots taken so far.
pub struct Real {
    readers: Vec<Reader>,
    writers: Vec<Writer>,
    current: usize,
    snapshots: Vec<(Bytes, Vec<u8>)>,
}

impl Real {
    /// Starts from the two handles `channel` returned.
    pub fn new(writer: Writer, reader: Reader) -> Self {
        Self {
            readers: vec![reader],
            writers: vec![writer],
            current: 0,
            snapshots: Vec::new(),
        }
    }

    /// The buffer's state, through any live handle (`None` once every handle is gone).
    pub fn info(&self) -> Option<Info> {
        match (self.readers.first(), self.writers.first()) {
            (Some(r), _) => Some(r.info()),
            (None, Some(w)) => Some(w.info()),
            (None, None) => None,
        }
    }

    /// Every snapshot still holds the bytes it had when taken.
    pub fn check_snapshots(&self) -> Result<(), String> {
        for (i, (snap, copy)) in self.snapshots.iter().enumerate() {
            if snap[..] != copy[..] {
                return Err(format!("snapshot {i} changed"));
            }
        }
        Ok(())
    }

    /// Runs `op`. Reads that would wait are polled once and dropped. `Err` reports a broken
    /// invariant the result alone does not show.
    pub fn run(&mut self, op: &Op) -> Result<Out, String> {
        match op {
            Op::DropWriter(i) => {
                if !self.writers.is_empty() {
                    let i = i % self.writers.len();
                    drop(self.writers.swap_remove(i));
                }
                return Ok(Out::Skipped);
            }
            Op::DropReader(i) => {
                if !self.readers.is_empty() {
                    let i = i % self.readers.len();
                    drop(self.readers.swap_remove(i));
                }
                return Ok(Out::Skipped);
            }
            Op::NewWriter => {
                if let Some(w) = self.writers.first() {
                    self.writers.push(w.clone());
                } else if let Some(r) = self.readers.first() {
                    self.writers.push(r.writer());
                }
                return Ok(Out::Skipped);
            }
            Op::NewReader => {
                if let Some(r) = self.readers.first() {
                    self.readers.push(r.clone());
                } else if let Some(w) = self.writers.first() {
                    self.readers.push(w.reader());
                }
                return Ok(Out::Skipped);
            }
            Op::Switch(i) => {
                self.current = *i;
                return Ok(Out::Skipped);
            }
            _ => {}
        }
        let reader = match self.readers.len() {
            0 => None,
            n => Some(&self.readers[self.current % n]),
        };
        let writer = match self.writers.len() {
            0 => None,
            n => Some(&self.writers[self.current % n]),
        };
        let needs_writer = matches!(op, Op::Write { .. } | Op::Close | Op::Abort);
        match (needs_writer, reader, writer) {
            (true, _, Some(w)) => run_writer(op, w),
            (false, Some(r), _) => run_reader(op, r, &mut self.snapshots),
            _ => Ok(Out::Skipped),
        }
    }
}

fn run_writer(op: &Op, w: &Writer) -> Result<Out, String> {
    Ok(match op {
        Op::Write {
            data,
            splits,
            owned,
        } => {
            let mut total = 0;
            for piece in pieces(data, splits) {
                let written = if *owned {
                    let mut b = Bytes::copy_from_slice(piece);
                    let r = w.try_write_bytes(&mut b);
                    if let Ok(n) = r {
                        if b.len() != piece.len() - n {
                            return Err("try_write_bytes kept the accepted prefix".into());
                        }
                    }
                    r
                } else {
                    w.try_write(piece)
                };
                match written {
                    Ok(n) => total += n,
                    Err(e) => return Ok(Out::Err(e)),
                }
            }
            Out::Count(total)
        }
        Op::Close => Out::Unit(w.close()),
        Op::Abort => Out::Unit(w.abort(AbortReason::other("model abort"))),
        _ => unreachable!("not a writer operation"),
    })
}

fn run_reader(
    op: &Op,
    reader: &Reader,
    snapshots: &mut Vec<(Bytes, Vec<u8>)>,
) -> Result<Out, String> {
    let bytes = |r: Option<Result<Bytes, Error>>| match r {
        None => Out::Wait,
        Some(Ok(b)) => Out::Bytes(b.to_vec()),
        Some(Err(e)) => Out::Err(e),
    };
    Ok(match op {
        Op::Read(n) => bytes(reader.read(*n).now_or_never()),
        Op::ReadToEnd => bytes(reader.read_to_end().now_or_never()),
        Op::Read1(n) => bytes(reader.read1(*n).now_or_never()),
        Op::Fill(n) => bytes(reader.fill(*n).now_or_never()),
        Op::ReadInto(n) => {
            let mut buf = vec![0xEEu8; *n];
            match reader.read_into(&mut buf).now_or_never() {
                None => Out::Wait,
                Some(Ok(got)) => {
                    if !buf[got..].iter().all(|&b| b == 0xEE) {
                        return Err("read_into wrote past its count".into());
                    }
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
            if info.unread as usize != reader.readable_amount() || info.position != reader.tell() {
                return Err(format!("info {info:?} disagrees with readable_amount/tell"));
            }
            Out::State {
                written: info.written,
                pos: info.position,
                unread: reader.readable_amount(),
                eof: reader.at_eof(),
                ended: info.ended,
                set_aside: info.set_aside,
            }
        }
        Op::ReaderClose => {
            reader.close();
            Out::Skipped
        }
        _ => unreachable!("not a reader operation"),
    })
}
