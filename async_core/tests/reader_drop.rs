//! Reader handles are counted: dropping the last one closes the reading side (as
//! `Reader::close`), so a writer whose reader is gone fails with `ReaderClosed` instead of
//! waiting forever (bounded) or piling up bytes nobody can read (unbounded).
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::sync::{Arc, Mutex};
use std::thread;

use py_buffer_core::{channel, Edge, Error, Options};

#[test]
fn dropping_the_last_reader_fails_writes() {
    let (w, r) = channel(Options::new());
    let edges = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&edges);
    w.set_observer(Some(Arc::new(move |e: Edge| sink.lock().unwrap().push(e))));
    let clone = r.clone();
    let third = w.reader();
    drop(r);
    drop(third);
    assert_eq!(w.try_write(b"still read").unwrap(), 10);
    drop(clone);
    assert!(matches!(w.try_write(b"x"), Err(Error::ReaderClosed)));
    assert!(w.info().reader_closed);
    assert_eq!(*edges.lock().unwrap(), [Edge::Readable, Edge::ReaderClosed]);
}

#[test]
fn a_writer_blocked_on_the_bound_wakes_when_the_reader_is_dropped() {
    let (w, r) = channel(Options::new().max_buffered(4));
    let writer = thread::spawn(move || w.write(&[b'x'; 100]).wait());
    // The writer fills the bound and waits (or has not started yet: either way it must
    // end with ReaderClosed once the last reader is gone).
    drop(r);
    assert!(matches!(writer.join().unwrap(), Err(Error::ReaderClosed)));
}

#[test]
fn a_reader_made_after_the_last_drop_sees_a_closed_reading_side() {
    let (w, r) = channel(Options::new());
    w.try_write(b"ab").unwrap();
    drop(r);
    let again = w.reader();
    assert_eq!(again.read_to_end().wait().unwrap(), &b"ab"[..]);
    assert!(again.at_eof());
}
