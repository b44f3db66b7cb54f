//! Reads that need more bytes than `max_buffered` (a long `read(n)`, `read_to_end`, a line
//! longer than the bound, `readlines`): the unread bytes are set aside for the waiting read,
//! so the writer gets room and the read completes, as over a pipe; a body that fails after
//! that loses nothing (the set-aside bytes stay readable by `read1`/`read_nonblock`/`peek`).
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::sync::{Arc, Mutex};
use std::thread;

use futures::FutureExt;
use py_buffer_core::{channel, AbortReason, Edge, Error, Options, Reader, Writer};

const BOUND: usize = 1 << 10;

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A writer thread that writes `data` (waiting for room) and then closes.
fn produce(w: Writer, data: Vec<u8>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        w.write(&data).wait().unwrap();
        w.close().unwrap();
    })
}

fn bounded() -> (Writer, Reader) {
    channel(Options::new().max_buffered(BOUND))
}

#[test]
fn read_to_end_larger_than_the_bound_completes() {
    let (w, r) = bounded();
    let data = body(5 * BOUND + 3);
    let producer = produce(w, data.clone());
    assert_eq!(r.read_to_end().wait().unwrap(), &data[..]);
    producer.join().unwrap();
}

#[test]
fn read_n_larger_than_the_bound_completes() {
    let (w, r) = bounded();
    let data = body(4 * BOUND);
    let producer = produce(w, data.clone());
    assert_eq!(
        r.read(3 * BOUND + 1).wait().unwrap(),
        &data[..3 * BOUND + 1]
    );
    assert_eq!(r.read_to_end().wait().unwrap(), &data[3 * BOUND + 1..]);
    producer.join().unwrap();
}

#[test]
fn a_line_longer_than_the_bound_completes() {
    let (w, r) = bounded();
    let mut data = vec![b'x'; 3 * BOUND];
    data.extend_from_slice(b"\nshort\n");
    data.extend_from_slice(&vec![b'y'; 2 * BOUND]);
    data.extend_from_slice(b"\n");
    let producer = produce(w, data.clone());
    let first = r.readline(None).wait().unwrap();
    assert_eq!(first.len(), 3 * BOUND + 1);
    assert_eq!(r.read_until(b'\n', None).wait().unwrap(), &b"short\n"[..]);
    let lines = r.readlines(None).wait().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].len(), 2 * BOUND + 1);
    producer.join().unwrap();
}

#[test]
fn an_async_read_larger_than_the_bound_completes() {
    let (w, r) = bounded();
    let data = body(3 * BOUND);
    let producer = produce(w, data.clone());
    let got = futures::executor::block_on(r.read_to_end()).unwrap();
    assert_eq!(got, &data[..]);
    producer.join().unwrap();
}

#[test]
fn a_waiting_attempt_sets_the_bytes_aside_and_announces_room() {
    let (w, r) = bounded();
    let edges = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&edges);
    r.set_observer(Some(Arc::new(move |e: Edge| sink.lock().unwrap().push(e))));
    let data = body(2 * BOUND + 5);
    assert_eq!(w.try_write(&data).unwrap(), BOUND);
    assert_eq!(w.try_write(&data[BOUND..]).unwrap(), 0, "full");
    // A non-blocking attempt (what the Erlang NIF makes) that must wait sets aside.
    assert!(r
        .try_read_with(py_buffer_core::ReadKind::ToEnd, |s| s.to_bytes())
        .is_none());
    let info = r.info();
    assert_eq!((info.unread, info.set_aside), (BOUND as u64, BOUND as u64));
    assert_eq!(
        *edges.lock().unwrap(),
        [Edge::Readable, Edge::Writable, Edge::Demand],
        "the refused writer is told it has room (and the first wait is a demand)"
    );
    assert_eq!(w.try_write(&data[BOUND..]).unwrap(), BOUND);
    assert_eq!(w.try_write(&data[2 * BOUND..]).unwrap(), 0, "full again");
    assert!(r.read_to_end().now_or_never().is_none());
    assert_eq!(w.try_write(&data[2 * BOUND..]).unwrap(), 5);
    w.close().unwrap();
    assert_eq!(r.read_to_end().wait().unwrap(), &data[..]);
    let info = r.info();
    assert_eq!((info.unread, info.set_aside), (0, 0));
}

#[test]
fn no_set_aside_while_the_writer_still_has_room() {
    let (w, r) = bounded();
    w.try_write(b"abc").unwrap();
    assert!(r.read(10).now_or_never().is_none());
    assert_eq!(r.info().set_aside, 0);
    assert_eq!(w.try_write(&body(2 * BOUND)).unwrap(), BOUND - 3);
}

#[test]
fn a_failed_body_after_set_aside_loses_nothing() {
    let (w, r) = bounded();
    let data = body(2 * BOUND);
    w.try_write(&data).unwrap();
    assert!(r.read(3 * BOUND).now_or_never().is_none());
    assert_eq!(w.try_write(&data[BOUND..]).unwrap(), BOUND);
    w.abort(AbortReason::other("gone")).unwrap();
    assert!(matches!(r.read(3 * BOUND).wait(), Err(Error::Aborted(_))));
    assert!(matches!(r.read_to_end().wait(), Err(Error::Aborted(_))));
    assert_eq!(r.peek(usize::MAX), &data[..]);
    assert_eq!(r.read1(usize::MAX).wait().unwrap(), &data[..]);
    assert!(matches!(r.read_nonblock(1), Err(Error::Aborted(_))));
}

#[test]
fn a_truncated_body_after_set_aside_keeps_every_byte_readable() {
    let (w, r) = channel(
        Options::new()
            .max_buffered(BOUND)
            .content_length(10 * BOUND as u64),
    );
    let data = body(2 * BOUND);
    w.try_write(&data).unwrap();
    assert!(r.readline(None).now_or_never().is_none());
    w.try_write(&data[BOUND..]).unwrap();
    w.close().unwrap();
    assert!(matches!(
        r.readline(None).wait(),
        Err(Error::Truncated { .. })
    ));
    assert_eq!(r.read_nonblock(usize::MAX).unwrap(), &data[..]);
}
