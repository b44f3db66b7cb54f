//! Cross-thread streaming throughput: py_buffer against the baselines a user would otherwise
//! pick (a single-thread `memcpy` into reused memory, `std::sync::mpsc` of `Vec<u8>`, and a
//! `Mutex<VecDeque<u8>>` + `Condvar` pipe), measured side by side in one run.
//!
//! Every variant moves [`TOTAL`] bytes in [`CHUNK`]-byte writes from a producer thread to a
//! consumer thread that reads [`CHUNK`] bytes at a time into one reused buffer. The bounded
//! variants hold at most [`BOUND`] bytes in flight. `docs/benchmarks.md` turns the medians
//! into ratios.
// criterion's macros generate an undocumented `pub fn benches`.
#![allow(missing_docs)]

use std::collections::VecDeque;
use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use py_buffer::blocking::{blocking, Options};

/// Bytes streamed per iteration.
const TOTAL: usize = 256 << 20;
/// Bytes per write and per read.
const CHUNK: usize = 64 << 10;
/// The in-flight bound of the bounded variants.
const BOUND: usize = 1 << 20;

/// One chunk of the payload (the same bytes every time, so no variant pays for producing them).
fn payload() -> Vec<u8> {
    (0..CHUNK).map(|i| (i % 251) as u8).collect()
}

/// The spec's baseline: one thread copying the same 256 MiB (the payload, 4096 times) into a
/// reused destination of 256 MiB whose pages were touched before timing.
fn memcpy(iters: u64) -> Duration {
    let src = payload();
    let mut dst = vec![1u8; TOTAL];
    let start = Instant::now();
    for _ in 0..iters {
        for piece in dst.chunks_exact_mut(CHUNK) {
            piece.copy_from_slice(black_box(&src));
        }
        black_box(&mut dst);
    }
    start.elapsed()
}

/// A stricter memcpy: the same bytes into a reused ring of `BOUND` bytes, which stays in
/// the CPU caches (as a bounded buffer's recycled blocks can).
fn memcpy_ring(iters: u64) -> Duration {
    let src = payload();
    let mut dst = vec![0u8; BOUND];
    let start = Instant::now();
    for _ in 0..iters {
        for i in 0..TOTAL / CHUNK {
            let at = (i * CHUNK) % BOUND;
            dst[at..at + CHUNK].copy_from_slice(black_box(&src));
            black_box(&mut dst);
        }
    }
    start.elapsed()
}

/// py_buffer: a blocking producer thread and a `std::io::Read` consumer.
fn py_buffer_stream(iters: u64, options: &Options) -> Duration {
    let src = Arc::new(payload());
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (writer, mut reader) = blocking(options.clone());
        let src = Arc::clone(&src);
        let start = Instant::now();
        let producer = thread::spawn(move || {
            for _ in 0..TOTAL / CHUNK {
                writer.write_all(&src).unwrap();
            }
            writer.close().unwrap();
        });
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0;
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got += n;
            black_box(&mut buf);
        }
        producer.join().unwrap();
        total += start.elapsed();
        assert_eq!(got, TOTAL);
    }
    total
}

/// `std::sync::mpsc::sync_channel` of `Vec<u8>` chunks, `BOUND` bytes in flight.
fn mpsc_stream(iters: u64) -> Duration {
    let src = Arc::new(payload());
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(BOUND / CHUNK);
        let src = Arc::clone(&src);
        let start = Instant::now();
        let producer = thread::spawn(move || {
            for _ in 0..TOTAL / CHUNK {
                tx.send(src.to_vec()).unwrap();
            }
        });
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0;
        for chunk in rx {
            buf[..chunk.len()].copy_from_slice(&chunk);
            got += chunk.len();
            black_box(&mut buf);
        }
        producer.join().unwrap();
        total += start.elapsed();
        assert_eq!(got, TOTAL);
    }
    total
}

/// The hand-written pipe: a `VecDeque<u8>` under a `Mutex`, two `Condvar`s, `BOUND` bytes max.
#[derive(Default)]
struct CondvarPipe {
    state: Mutex<(VecDeque<u8>, bool)>,
    readable: Condvar,
    writable: Condvar,
}

impl CondvarPipe {
    fn write(&self, mut data: &[u8]) {
        let mut state = self.state.lock().unwrap();
        while !data.is_empty() {
            while state.0.len() >= BOUND {
                state = self.writable.wait(state).unwrap();
            }
            let n = data.len().min(BOUND - state.0.len());
            state.0.write_all(&data[..n]).unwrap();
            data = &data[n..];
            self.readable.notify_one();
        }
    }

    fn close(&self) {
        self.state.lock().unwrap().1 = true;
        self.readable.notify_all();
    }

    fn read(&self, buf: &mut [u8]) -> usize {
        let mut state = self.state.lock().unwrap();
        while state.0.is_empty() && !state.1 {
            state = self.readable.wait(state).unwrap();
        }
        let n = state.0.read(buf).unwrap();
        self.writable.notify_one();
        n
    }
}

fn condvar_stream(iters: u64) -> Duration {
    let src = Arc::new(payload());
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let pipe = Arc::new(CondvarPipe::default());
        let (src, producer_pipe) = (Arc::clone(&src), Arc::clone(&pipe));
        let start = Instant::now();
        let producer = thread::spawn(move || {
            for _ in 0..TOTAL / CHUNK {
                producer_pipe.write(&src);
            }
            producer_pipe.close();
        });
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0;
        loop {
            let n = pipe.read(&mut buf);
            if n == 0 {
                break;
            }
            got += n;
            black_box(&mut buf);
        }
        producer.join().unwrap();
        total += start.elapsed();
        assert_eq!(got, TOTAL);
    }
    total
}

/// Round trips of one byte: main → echo thread through one channel, back through another.
const ROUND_TRIPS: u64 = 2_000;

fn py_buffer_ping_pong(iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (ping_w, ping_r) = blocking(Options::new().max_buffered(BOUND));
        let (pong_w, pong_r) = blocking(Options::new().max_buffered(BOUND));
        let echo = thread::spawn(move || loop {
            let b = ping_r.read1(1).unwrap();
            if b.is_empty() {
                break;
            }
            pong_w.write_all(&b).unwrap();
        });
        let start = Instant::now();
        for _ in 0..ROUND_TRIPS {
            ping_w.write_all(b"x").unwrap();
            assert_eq!(pong_r.read1(1).unwrap().len(), 1);
        }
        total += start.elapsed();
        ping_w.close().unwrap();
        echo.join().unwrap();
    }
    total
}

fn condvar_ping_pong(iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let ping = Arc::new(CondvarPipe::default());
        let pong = Arc::new(CondvarPipe::default());
        let (ping_r, pong_w) = (Arc::clone(&ping), Arc::clone(&pong));
        let echo = thread::spawn(move || {
            let mut b = [0u8; 1];
            loop {
                if ping_r.read(&mut b) == 0 {
                    break;
                }
                pong_w.write(&b);
            }
        });
        let start = Instant::now();
        let mut b = [0u8; 1];
        for _ in 0..ROUND_TRIPS {
            ping.write(b"x");
            assert_eq!(pong.read(&mut b), 1);
        }
        total += start.elapsed();
        ping.close();
        echo.join().unwrap();
    }
    total
}

/// One-way wake latency of a reader that is parked (it has waited longer than any spin):
/// the time from just before the write to just after the blocked read returns, summed over
/// `iters` wake-ups, each after a pause that lets the reader park.
fn py_buffer_parked_wake(iters: u64) -> Duration {
    let (ping_w, ping_r) = blocking(Options::new().max_buffered(BOUND));
    let (woke_tx, woke_rx) = mpsc::channel::<Instant>();
    let echo = thread::spawn(move || loop {
        let b = ping_r.read1(1).unwrap();
        let woke = Instant::now();
        if b.is_empty() {
            break;
        }
        woke_tx.send(woke).unwrap();
    });
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        thread::sleep(PARK_PAUSE);
        let sent = Instant::now();
        ping_w.write_all(b"x").unwrap();
        total += woke_rx.recv().unwrap() - sent;
    }
    ping_w.close().unwrap();
    echo.join().unwrap();
    total
}

fn condvar_parked_wake(iters: u64) -> Duration {
    let ping = Arc::new(CondvarPipe::default());
    let ping_r = Arc::clone(&ping);
    let (woke_tx, woke_rx) = mpsc::channel::<Instant>();
    let echo = thread::spawn(move || {
        let mut b = [0u8; 1];
        loop {
            let n = ping_r.read(&mut b);
            let woke = Instant::now();
            if n == 0 {
                break;
            }
            woke_tx.send(woke).unwrap();
        }
    });
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        thread::sleep(PARK_PAUSE);
        let sent = Instant::now();
        ping.write(b"x");
        total += woke_rx.recv().unwrap() - sent;
    }
    ping.close();
    echo.join().unwrap();
    total
}

/// Long enough for a blocked reader to give up spinning and park.
const PARK_PAUSE: Duration = Duration::from_micros(200);

/// Small writes: 64-byte writes into a buffer whose storage was reserved up front
/// (content length), drained by the same thread.
const SMALL_WRITES: usize = 16 * 1024;

fn py_buffer_small_writes(iters: u64) -> Duration {
    let record = [7u8; 64];
    let mut out = [0u8; 64];
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (writer, mut reader) =
            blocking(Options::new().content_length((SMALL_WRITES * 64) as u64));
        let start = Instant::now();
        for _ in 0..SMALL_WRITES {
            writer.write_all(black_box(&record)).unwrap();
            reader.read_exact(&mut out).unwrap();
        }
        total += start.elapsed();
        black_box(&out);
    }
    total
}

fn condvar_small_writes(iters: u64) -> Duration {
    let record = [7u8; 64];
    let mut out = [0u8; 64];
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let pipe = CondvarPipe::default();
        let start = Instant::now();
        for _ in 0..SMALL_WRITES {
            pipe.write(black_box(&record));
            assert_eq!(pipe.read(&mut out), 64);
        }
        total += start.elapsed();
        black_box(&out);
    }
    total
}

fn streaming(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream_256MiB");
    group
        .throughput(Throughput::Bytes(TOTAL as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    group.bench_function("memcpy", |b| b.iter_custom(memcpy));
    group.bench_function("memcpy_ring_1MiB", |b| b.iter_custom(memcpy_ring));
    let bounded = Options::new().max_buffered(BOUND);
    group.bench_function(BenchmarkId::new("py_buffer", "bounded_1MiB"), |b| {
        b.iter_custom(|n| py_buffer_stream(n, &bounded))
    });
    group.bench_function(BenchmarkId::new("py_buffer", "retain_all"), |b| {
        b.iter_custom(|n| py_buffer_stream(n, &Options::new()))
    });
    group.bench_function("mpsc_vec", |b| b.iter_custom(mpsc_stream));
    group.bench_function("condvar_pipe", |b| b.iter_custom(condvar_stream));
    group.finish();

    let mut group = c.benchmark_group("ping_pong_2000");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(6));
    group.bench_function("py_buffer", |b| b.iter_custom(py_buffer_ping_pong));
    group.bench_function("condvar_pipe", |b| b.iter_custom(condvar_ping_pong));
    group.finish();

    let mut group = c.benchmark_group("parked_wake");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2));
    group.bench_function("py_buffer", |b| b.iter_custom(py_buffer_parked_wake));
    group.bench_function("condvar_pipe", |b| b.iter_custom(condvar_parked_wake));
    group.finish();

    let mut group = c.benchmark_group("small_writes_64B");
    group
        .throughput(Throughput::Bytes((SMALL_WRITES * 64) as u64))
        .sample_size(20);
    group.bench_function("py_buffer", |b| b.iter_custom(py_buffer_small_writes));
    group.bench_function("condvar_pipe", |b| b.iter_custom(condvar_small_writes));
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = streaming
);
criterion_main!(benches);
