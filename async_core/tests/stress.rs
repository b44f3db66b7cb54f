//! Threaded stress with exact totals: several writer threads append tagged 8-byte records
//! (writer id, sequence number) through cloned handles while one to four reader threads
//! consume through cloned readers. Every record must arrive exactly once, whole, and in order
//! per writer (as seen by each reader, whose reads advance the shared position).
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::thread;

use py_buffer_core::{channel, Options, Reader, Writer};

const RECORD: usize = 8;

/// `[b'A' + writer, six hex digits of seq, b'\n']`: no newline inside, so line reads see
/// whole records too.
fn record(writer: u8, seq: u32) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0] = b'A' + writer;
    r[1..7].copy_from_slice(format!("{seq:06x}").as_bytes());
    r[7] = b'\n';
    r
}

fn parse(r: &[u8]) -> (u8, u32) {
    assert_eq!(r.len(), RECORD, "a partial record: {r:?}");
    assert_eq!(r[7], b'\n', "a torn record: {r:?}");
    let writer = r[0].wrapping_sub(b'A');
    let seq = std::str::from_utf8(&r[1..7])
        .ok()
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .unwrap_or_else(|| panic!("a torn record: {r:?}"));
    (writer, seq)
}

/// Closes the reader side if a reader thread panics, so blocked writers fail instead of
/// waiting forever for a reader that is gone.
struct CloseOnPanic(Reader);

impl Drop for CloseOnPanic {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.close();
        }
    }
}

/// Spawns `writers` threads writing `per_writer` records each; `blocking` selects the waiting
/// `write` (bounded mode) over `try_write`.
fn spawn_writers(
    w: &Writer,
    writers: u8,
    per_writer: u32,
    blocking: bool,
) -> Vec<thread::JoinHandle<()>> {
    (0..writers)
        .map(|id| {
            let w = w.clone();
            thread::spawn(move || {
                for seq in 0..per_writer {
                    let rec = record(id, seq);
                    if blocking {
                        w.write(&rec).wait().unwrap();
                    } else {
                        assert_eq!(w.try_write(&rec).unwrap(), RECORD);
                    }
                }
            })
        })
        .collect()
}

/// Reads records (exactly one per read, or a line at a time) until EOF; checks per-writer
/// order as this reader saw it and returns what it got.
fn spawn_reader(r: Reader, writers: u8, by_line: bool) -> thread::JoinHandle<Vec<(u8, u32)>> {
    thread::spawn(move || {
        let guard = CloseOnPanic(r);
        let r = &guard.0;
        let mut last: Vec<Option<u32>> = vec![None; writers as usize];
        let mut got = Vec::new();
        loop {
            let rec = if by_line {
                r.readline(Some(RECORD)).wait().unwrap()
            } else {
                r.read(RECORD).wait().unwrap()
            };
            if rec.is_empty() {
                break got;
            }
            let (writer, seq) = parse(&rec);
            let prev = &mut last[writer as usize];
            assert!(
                prev.map_or(true, |p| p < seq),
                "writer {writer}: {seq} after {prev:?}"
            );
            *prev = Some(seq);
            got.push((writer, seq));
        }
    })
}

fn stress(writers: u8, per_writer: u32, readers: usize, options: Options, blocking: bool) {
    let (w, r) = channel(options);
    let writer_threads = spawn_writers(&w, writers, per_writer, blocking);
    let reader_threads: Vec<_> = (0..readers)
        .map(|i| spawn_reader(r.clone(), writers, i % 2 == 1))
        .collect();
    for t in writer_threads {
        t.join().unwrap();
    }
    w.close().unwrap();
    let mut seen = vec![vec![false; per_writer as usize]; writers as usize];
    let mut total = 0usize;
    for t in reader_threads {
        for (writer, seq) in t.join().unwrap() {
            let slot = &mut seen[writer as usize][seq as usize];
            assert!(!*slot, "record ({writer}, {seq}) read twice");
            *slot = true;
            total += 1;
        }
    }
    assert_eq!(
        total,
        writers as usize * per_writer as usize,
        "every record read"
    );
    let info = r.info();
    assert_eq!(info.written, (total * RECORD) as u64);
    assert_eq!(info.position, info.written);
    assert!(r.at_eof());
}

#[test]
fn four_writers_one_reader() {
    stress(4, 100_000, 1, Options::new(), false);
}

#[test]
fn four_writers_two_readers() {
    stress(4, 100_000, 2, Options::new(), false);
}

#[test]
fn four_writers_four_readers() {
    stress(4, 100_000, 4, Options::new(), false);
}

#[test]
fn bounded_four_writers_three_readers() {
    // A bound that is a whole number of records keeps every accepted write whole.
    stress(4, 50_000, 3, Options::new().max_buffered(64 * RECORD), true);
}

#[test]
fn bounded_byte_stream_from_one_writer_is_exact() {
    let (w, r) = channel(Options::new().max_buffered(1000));
    const TOTAL: usize = 4_000_000;
    let producer = thread::spawn(move || {
        let mut at = 0usize;
        let mut piece = 1;
        while at < TOTAL {
            let n = piece.min(TOTAL - at);
            let data: Vec<u8> = (at..at + n).map(|i| (i % 251) as u8).collect();
            w.write(&data).wait().unwrap();
            at += n;
            piece = piece % 3000 + 7;
        }
        w.close().unwrap();
    });
    let mut at = 0usize;
    loop {
        let chunk = r.read1(1 + at % 5000).wait().unwrap();
        if chunk.is_empty() {
            break;
        }
        for (i, &b) in chunk.iter().enumerate() {
            assert_eq!(b, ((at + i) % 251) as u8, "byte {}", at + i);
        }
        at += chunk.len();
        assert!(r.info().retained <= 3 * 1000 + 64 * 1024);
    }
    producer.join().unwrap();
    assert_eq!(at, TOTAL);
}

#[test]
fn async_readers_on_a_runtime_with_thread_writers() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (w, r) = channel(Options::new().max_buffered(4096));
    let writer_threads = spawn_writers(&w, 4, 20_000, true);
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let r = r.clone();
            rt.spawn(async move {
                let mut got = Vec::new();
                loop {
                    let rec = r.read(RECORD).await.unwrap();
                    if rec.is_empty() {
                        break got;
                    }
                    got.push(parse(&rec));
                }
            })
        })
        .collect();
    for t in writer_threads {
        t.join().unwrap();
    }
    drop(w.close());
    drop(w);
    let mut all: Vec<(u8, u32)> = rt.block_on(async {
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    all.sort_unstable();
    let expected: Vec<(u8, u32)> = (0..4u8)
        .flat_map(|w| (0..20_000u32).map(move |s| (w, s)))
        .collect();
    assert_eq!(all, expected);
}

/// Records large enough (20 KiB) that bounded writes and `read_into` copy outside the lock.
const BIG: usize = 20 * 1024;

fn big_record(writer: u8, seq: u32) -> Vec<u8> {
    let fill = writer.wrapping_mul(61) ^ (seq as u8);
    let mut r = vec![fill; BIG];
    r[0] = writer;
    r[1..5].copy_from_slice(&seq.to_le_bytes());
    r
}

#[test]
fn large_records_copied_outside_the_lock_stay_whole() {
    const WRITERS: u8 = 4;
    const PER_WRITER: u32 = 300;
    // A bound of whole records keeps every accepted write whole (room is a multiple of BIG).
    let (w, r) = channel(Options::new().max_buffered(3 * BIG));
    let writers: Vec<_> = (0..WRITERS)
        .map(|id| {
            let w = w.clone();
            thread::spawn(move || {
                for seq in 0..PER_WRITER {
                    w.write(&big_record(id, seq)).wait().unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..3)
        .map(|i| {
            let guard = CloseOnPanic(r.clone());
            thread::spawn(move || {
                let r = &guard.0;
                let mut got = Vec::new();
                let mut buf = vec![0u8; BIG];
                loop {
                    let rec = if i == 0 {
                        r.read(BIG).wait().unwrap().to_vec()
                    } else {
                        let n = r.read_into(&mut buf).wait().unwrap();
                        buf[..n].to_vec()
                    };
                    if rec.is_empty() {
                        break got;
                    }
                    assert_eq!(rec.len(), BIG, "a partial record");
                    let writer = rec[0];
                    let seq = u32::from_le_bytes(rec[1..5].try_into().unwrap());
                    assert!(rec == big_record(writer, seq), "a torn record");
                    got.push((writer, seq));
                }
            })
        })
        .collect();
    for t in writers {
        t.join().unwrap();
    }
    w.close().unwrap();
    let mut all: Vec<(u8, u32)> = readers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    let expected: Vec<(u8, u32)> = (0..WRITERS)
        .flat_map(|w| (0..PER_WRITER).map(move |s| (w, s)))
        .collect();
    assert_eq!(all, expected);
    assert!(r.info().retained <= 4 * BIG as u64 + 64 * 1024);
}
