//! `Edge::Demand`: raised once per buffer, the first time a reader has to wait for bytes
//! that have not arrived while the body is not complete — from every wait path (blocking,
//! async, the non-blocking attempt bindings retry, readiness, fill, the I/O traits). A read
//! the bytes there satisfy, or one after the body ended, raises nothing.
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use py_buffer_core::{channel, Edge, Options, ReadKind, Reader};

fn demands(r: &Reader) -> Arc<Mutex<usize>> {
    let count = Arc::new(Mutex::new(0));
    let sink = Arc::clone(&count);
    r.set_observer(Some(Arc::new(move |e: Edge| {
        if e == Edge::Demand {
            *sink.lock().unwrap() += 1;
        }
    })));
    count
}

fn count(c: &Arc<Mutex<usize>>) -> usize {
    *c.lock().unwrap()
}

#[test]
fn a_blocking_read_that_waits_raises_demand_once() {
    let (w, r) = channel(Options::new());
    let seen = demands(&r);
    let reader = std::thread::spawn(move || {
        let first = r.read(3).wait().unwrap();
        let second = r.read(3).wait().unwrap();
        (first, second, r)
    });
    // The reader raises Demand when it finds nothing; only then do we write.
    while count(&seen) == 0 {
        std::thread::yield_now();
    }
    w.try_write(b"abc").unwrap();
    w.try_write(b"def").unwrap();
    let (first, second, r) = reader.join().unwrap();
    assert_eq!((&first[..], &second[..]), (&b"abc"[..], &b"def"[..]));
    assert_eq!(count(&seen), 1);
    assert!(r.info().demanded);
}

#[test]
fn reads_the_bytes_there_satisfy_raise_nothing() {
    let (w, r) = channel(Options::new());
    let seen = demands(&r);
    w.try_write(b"line\nrest").unwrap();
    assert_eq!(&r.readline(None).wait().unwrap()[..], b"line\n");
    assert_eq!(&r.read1(10).wait().unwrap()[..], b"rest");
    assert!(r.read_nonblock(10).unwrap().is_empty(), "never waits");
    assert_eq!(count(&seen), 0);
    assert!(!r.info().demanded);
}

#[test]
fn the_non_blocking_attempt_raises_demand_once() {
    let (w, r) = channel(Options::new());
    let seen = demands(&r);
    assert!(r
        .try_read_with(ReadKind::Available(4), |s| s.len())
        .is_none());
    assert!(r.try_read_with(ReadKind::ToEnd, |s| s.len()).is_none());
    assert_eq!(count(&seen), 1);
    w.try_write(b"ab").unwrap();
    assert!(r.try_read_with(ReadKind::ToEnd, |s| s.len()).is_none());
    assert_eq!(count(&seen), 1, "once per buffer");
}

#[test]
fn an_async_read_registering_its_listener_raises_demand() {
    let (w, r) = channel(Options::new());
    let seen = demands(&r);
    let mut read = Box::pin(r.read(2));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(read.as_mut().poll(&mut cx).is_pending());
    assert_eq!(count(&seen), 1);
    w.try_write(b"ab").unwrap();
    assert!(matches!(read.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
    assert_eq!(count(&seen), 1);
}

#[test]
fn readiness_and_fill_raise_demand() {
    let (_w, r) = channel(Options::new());
    let seen = demands(&r);
    assert!(r.ready(ReadKind::Available(1)).try_now().is_none());
    assert_eq!(count(&seen), 1);

    let (_w, r) = channel(Options::new());
    let seen = demands(&r);
    assert!(r.fill(1).try_now().is_none());
    assert_eq!(count(&seen), 1);
}

#[test]
fn the_io_traits_raise_demand() {
    use futures::AsyncRead;
    let (_w, mut r) = channel(Options::new());
    let seen = demands(&r);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut buf = [0u8; 4];
    assert!(std::pin::Pin::new(&mut r)
        .poll_read(&mut cx, &mut buf)
        .is_pending());
    assert_eq!(count(&seen), 1);
}

#[test]
fn no_demand_once_the_body_is_complete() {
    let (w, r) = channel(Options::new().content_length(2));
    let seen = demands(&r);
    w.try_write(b"ab").unwrap();
    assert_eq!(&r.read_to_end().wait().unwrap()[..], b"ab");
    assert_eq!(&r.read(1).wait().unwrap()[..], b"");

    let (w, r) = channel(Options::new());
    let seen_closed = demands(&r);
    w.close().unwrap();
    assert!(r.read(1).wait().unwrap().is_empty());
    assert_eq!((count(&seen), count(&seen_closed)), (0, 0));
}
