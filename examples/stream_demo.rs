//! The Rust demo: a producer thread streams a body in chunks to a blocking reader and, through
//! a second buffer, to an async (tokio) reader; both print the bytes they got, a checksum of
//! them, and the throughput. Exits non-zero if either received anything but what was sent.

use std::io::Read;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use futures::StreamExt;
use py_buffer::blocking::BlockingReader;
use py_buffer::{channel, Options, Writer};

const BODY_LEN: usize = 64 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// FNV-1a over 64-bit little-endian words (bytes in a final partial word): a checksum that
/// needs no dependency and is fast enough not to hide the buffer's throughput. Chunk
/// boundaries must fall on multiples of 8 bytes for two runs to agree (they do here).
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        let words = bytes.chunks_exact(8);
        let tail = words.remainder();
        for word in words {
            let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            self.0 = (self.0 ^ word).wrapping_mul(0x0000_0100_0000_01b3);
        }
        for &b in tail {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The body is these chunks, cycled: generated once so producing costs only the writes.
fn chunks() -> Arc<Vec<Vec<u8>>> {
    let make = |index: usize| {
        (0..CHUNK)
            .map(|i| ((index * 31 + i * 7) % 251) as u8)
            .collect()
    };
    Arc::new((0..16).map(make).collect())
}

fn produce(writer: Writer, chunks: Arc<Vec<Vec<u8>>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for index in 0..BODY_LEN / CHUNK {
            writer
                .write(&chunks[index % chunks.len()])
                .wait()
                .expect("write");
        }
        writer.close().expect("close");
    })
}

fn report(who: &str, bytes: usize, sum: Fnv, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{who:>9}: {bytes} bytes, checksum {:016x}, {:.0} MiB/s",
        sum.0,
        bytes as f64 / secs / (1024.0 * 1024.0)
    );
}

fn main() {
    let chunks = chunks();
    let mut expected = Fnv::new();
    for index in 0..BODY_LEN / CHUNK {
        expected.update(&chunks[index % chunks.len()]);
    }
    println!("   sender: {BODY_LEN} bytes, checksum {:016x}", expected.0);

    // Blocking reader, bounded buffer: the producer waits whenever 1 MiB is unread.
    let started = Instant::now();
    let (writer, reader) = channel(Options::new().max_buffered(1 << 20));
    let producer = produce(writer, Arc::clone(&chunks));
    let mut reader = BlockingReader::new(reader);
    let (mut got, mut sum, mut buf) = (0, Fnv::new(), vec![0u8; CHUNK]);
    loop {
        let n = reader.read(&mut buf).expect("blocking read");
        if n == 0 {
            break;
        }
        sum.update(&buf[..n]);
        got += n;
    }
    producer.join().expect("producer");
    report("blocking", got, sum, started);
    let blocking_ok = got == BODY_LEN && sum.0 == expected.0;

    // Async reader on tokio: the body as a Stream of Bytes chunks.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let (writer, mut reader) = channel(Options::new().content_length(BODY_LEN as u64));
    let producer = produce(writer, Arc::clone(&chunks));
    let (got, sum) = runtime.block_on(async {
        let (mut got, mut sum) = (0, Fnv::new());
        while let Some(chunk) = reader.next().await {
            let chunk = chunk.expect("async read");
            sum.update(&chunk);
            got += chunk.len();
        }
        (got, sum)
    });
    producer.join().expect("producer");
    report("async", got, sum, started);
    let async_ok = got == BODY_LEN && sum.0 == expected.0;

    if !(blocking_ok && async_ok) {
        eprintln!("MISMATCH: a reader did not receive exactly what was sent");
        std::process::exit(1);
    }
    println!("ok: both readers received exactly what was sent");
}
