//! Every blocking operation of [`BlockingReader`] parks its thread and wakes for each reason
//! it must: data arriving, a clean close, an abort, the last writer handle dropped, and its
//! own timeout (`TimedOut`, consuming nothing).
//!
//! Synchronisation is by condition: the test waits until the reader thread is asleep in the
//! kernel (its `/proc` state), then acts. If that observation were ever wrong, the test would
//! still pass: every operation gives the same result when the trigger comes before it blocks.

use std::io::{BufRead, Read};
use std::thread;
use std::time::{Duration, Instant};

use py_buffer_sync::{blocking, AbortReason, BlockingReader, BlockingWriter, Error, Options};

/// What a reader thread's operation produced, flattened for comparison.
type Outcome = Result<Vec<u8>, Error>;

fn io_outcome<T>(r: std::io::Result<T>, ok: impl FnOnce(T) -> Vec<u8>) -> Outcome {
    r.map(ok).map_err(|e| {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
            .cloned()
            .unwrap_or_else(|| panic!("an io error without the typed error: {e}"))
    })
}

/// One blocking operation, by name.
#[derive(Debug, Clone, Copy)]
enum BlockingOp {
    ReadExact,
    ReadAll,
    Read1,
    Readline,
    ReadUntil,
    Readlines,
    Peek,
    StdRead,
    StdFillBuf,
    StdReadLine,
}

const ALL_OPS: [BlockingOp; 10] = [
    BlockingOp::ReadExact,
    BlockingOp::ReadAll,
    BlockingOp::Read1,
    BlockingOp::Readline,
    BlockingOp::ReadUntil,
    BlockingOp::Readlines,
    BlockingOp::Peek,
    BlockingOp::StdRead,
    BlockingOp::StdFillBuf,
    BlockingOp::StdReadLine,
];

impl BlockingOp {
    fn run(self, r: &mut BlockingReader) -> Outcome {
        match self {
            Self::ReadExact => r.read_exact_or_eof(5).map(|b| b.to_vec()),
            Self::ReadAll => r.read_all().map(|b| b.to_vec()),
            Self::Read1 => r.read1(100).map(|b| b.to_vec()),
            Self::Readline => r.readline(None).map(|b| b.to_vec()),
            Self::ReadUntil => r.read_until_byte(b'\n', Some(100)).map(|b| b.to_vec()),
            Self::Readlines => r.readlines(Some(1)).map(|lines| lines.concat()),
            Self::Peek => r.peek(100).map(|b| b.to_vec()),
            Self::StdRead => {
                let mut buf = [0u8; 100];
                io_outcome(r.read(&mut buf), |n| buf[..n].to_vec())
            }
            Self::StdFillBuf => io_outcome(r.fill_buf().map(<[u8]>::to_vec), |v| v),
            Self::StdReadLine => {
                let mut line = String::new();
                io_outcome(r.read_line(&mut line), |_| line.into_bytes())
            }
        }
    }

    /// Whether the operation leaves the bytes it returns unread.
    fn peeks(self) -> bool {
        matches!(self, Self::Peek | Self::StdFillBuf)
    }
}

/// The calling thread's id, as `/proc` names it.
fn current_tid() -> Option<String> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    Some(link.file_name()?.to_string_lossy().into_owned())
}

/// Waits until thread `tid` of this process sleeps in the kernel (state `S`), i.e. is parked
/// on the buffer's listener. Gives up after a while; the tests are correct either way.
fn wait_until_blocked(tid: Option<&str>) {
    let Some(tid) = tid else {
        thread::sleep(Duration::from_millis(20));
        return;
    };
    let path = format!("/proc/self/task/{tid}/stat");
    let give_up = Instant::now() + Duration::from_secs(5);
    while Instant::now() < give_up {
        let Ok(stat) = std::fs::read_to_string(&path) else {
            return; // the thread already finished
        };
        // The state follows the parenthesised command name.
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.trim_start().chars().next());
        if state == Some('S') {
            return;
        }
        thread::yield_now();
    }
}

/// Starts `op` on a reader thread, waits until it blocks, runs `trigger`, returns the outcome.
fn blocked_then(
    op: BlockingOp,
    options: Options,
    timeout: Option<Duration>,
    trigger: impl FnOnce(BlockingWriter),
) -> (Outcome, BlockingReader) {
    let (writer, mut reader) = blocking(options);
    reader.set_timeout(timeout);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let handle = thread::spawn(move || {
        tid_tx.send(current_tid()).unwrap();
        let out = op.run(&mut reader);
        (out, reader)
    });
    let tid = tid_rx.recv().unwrap();
    wait_until_blocked(tid.as_deref());
    trigger(writer);
    handle.join().unwrap()
}

#[test]
fn every_blocking_read_wakes_on_data() {
    for op in ALL_OPS {
        let mut kept = None;
        let (out, reader) = blocked_then(op, Options::new(), None, |w| {
            w.write_all(b"data\n").unwrap();
            if matches!(op, BlockingOp::ReadAll) {
                w.close().unwrap(); // read_all wants the whole body
            }
            // Keep the writer alive until the read is done: only the data may wake the
            // reader. (It was `mem::forget`, which LeakSanitizer reported as a leak.)
            kept = Some(w);
        });
        drop(kept);
        assert_eq!(out.as_deref(), Ok(&b"data\n"[..]), "{op:?}");
        let left = if op.peeks() { 5 } else { 0 };
        assert_eq!(reader.readable_amount(), left, "{op:?}");
    }
}

#[test]
fn every_blocking_read_wakes_on_close() {
    for op in ALL_OPS {
        let (out, reader) = blocked_then(op, Options::new(), None, |w| w.close().unwrap());
        assert_eq!(out.as_deref(), Ok(&b""[..]), "{op:?}");
        assert!(reader.at_eof());
    }
}

#[test]
fn every_blocking_read_wakes_on_abort() {
    for op in ALL_OPS {
        let (out, _) = blocked_then(op, Options::new(), None, |w| {
            w.abort(AbortReason::other("boom")).unwrap()
        });
        assert_eq!(
            out,
            Err(Error::Aborted(AbortReason::other("boom"))),
            "{op:?}"
        );
    }
}

#[test]
fn every_blocking_read_wakes_when_the_last_writer_is_dropped() {
    for op in ALL_OPS {
        let (out, _) = blocked_then(op, Options::new(), None, drop);
        assert_eq!(out, Err(Error::Aborted(AbortReason::WriterGone)), "{op:?}");
    }
}

#[test]
fn every_blocking_read_wakes_on_a_truncated_close() {
    for op in ALL_OPS {
        let (out, _) = blocked_then(op, Options::new().content_length(9), None, |w| {
            w.close().unwrap()
        });
        assert_eq!(
            out,
            Err(Error::Truncated {
                expected: 9,
                got: 0
            }),
            "{op:?}"
        );
    }
}

#[test]
fn every_blocking_read_times_out_consuming_nothing() {
    for op in ALL_OPS {
        let (writer, mut reader) = blocking(Options::new());
        writer.write_all(b"da").unwrap(); // not enough for any op but the peeks
                                          // read1/read/peeks would return the 2 bytes; std's read_line moves them into the
                                          // caller's string before it times out (tested below).
        let waits_for_more = !matches!(
            op,
            BlockingOp::Peek
                | BlockingOp::StdFillBuf
                | BlockingOp::Read1
                | BlockingOp::StdRead
                | BlockingOp::StdReadLine
        );
        if waits_for_more {
            reader.set_timeout(Some(Duration::from_millis(30)));
            assert_eq!(op.run(&mut reader), Err(Error::TimedOut), "{op:?}");
            assert_eq!(reader.readable_amount(), 2, "{op:?} consumed nothing");
            assert_eq!(reader.tell(), 0);
        }
        // Everyone times out on an empty buffer.
        let (writer2, mut empty) = blocking(Options::new());
        empty.set_timeout(Some(Duration::from_millis(30)));
        assert_eq!(op.run(&mut empty), Err(Error::TimedOut), "{op:?}");
        // The reader stays usable after a timeout.
        writer2.write_all(b"data\n").unwrap();
        writer2.close().unwrap();
        assert_eq!(op.run(&mut empty).as_deref(), Ok(&b"data\n"[..]), "{op:?}");
        drop(writer);
    }
}

#[test]
fn a_timeout_does_not_fire_when_data_comes_first() {
    for op in ALL_OPS {
        let (out, _) = blocked_then(op, Options::new(), Some(Duration::from_secs(600)), |w| {
            w.write_all(b"data\n").unwrap();
            w.close().unwrap();
        });
        assert_eq!(out.as_deref(), Ok(&b"data\n"[..]), "{op:?}");
    }
}

#[test]
fn the_reader_closing_wakes_another_blocked_reader() {
    for op in ALL_OPS {
        let (writer, reader) = blocking(Options::new());
        let closer = reader.clone();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let handle = thread::spawn(move || {
            let mut reader = reader;
            tid_tx.send(current_tid()).unwrap();
            op.run(&mut reader)
        });
        wait_until_blocked(tid_rx.recv().unwrap().as_deref());
        closer.close();
        assert_eq!(handle.join().unwrap().as_deref(), Ok(&b""[..]), "{op:?}");
        assert_eq!(writer.write_all(b"x"), Err(Error::ReaderClosed));
    }
}

#[test]
fn std_read_line_keeps_what_it_read_before_a_timeout() {
    let (writer, mut reader) = blocking(Options::new());
    writer.write_all(b"da").unwrap();
    reader.set_timeout(Some(Duration::from_millis(30)));
    let mut line = String::new();
    let e = reader.read_line(&mut line).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(
        line, "da",
        "std::io semantics: the bytes read so far are in the string"
    );
    writer.write_all(b"ta\n").unwrap();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "data\n");
}
