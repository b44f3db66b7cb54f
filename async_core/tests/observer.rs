//! The readiness hook: exact edge sequences (Readable / Writable / Eof / ReaderClosed), and
//! observers that call back into the buffer — which must not deadlock, because edges are
//! delivered after the lock is released. Observers that call back hold weak handles: a
//! counted handle inside the observer is a reference cycle (see `Observer`, "Leaks"), and
//! the buffer releases its observer once no edge can come.
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::sync::{Arc, Mutex};

use py_buffer_core::{channel, AbortReason, Edge, Options, Reader};

fn recorder(r: &Reader) -> Arc<Mutex<Vec<Edge>>> {
    let edges = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&edges);
    r.set_observer(Some(Arc::new(move |e: Edge| sink.lock().unwrap().push(e))));
    edges
}

#[test]
fn edges_of_a_plain_body() {
    let (w, r) = channel(Options::new());
    let edges = recorder(&r);
    w.try_write(b"").unwrap();
    assert!(
        edges.lock().unwrap().is_empty(),
        "an empty write is no edge"
    );
    w.try_write(b"a").unwrap();
    w.try_write(b"b").unwrap();
    r.read(2).wait().unwrap();
    w.close().unwrap();
    w.close().unwrap();
    r.close();
    r.close();
    assert_eq!(
        *edges.lock().unwrap(),
        [
            Edge::Readable,
            Edge::Readable,
            Edge::Eof,
            Edge::ReaderClosed
        ]
    );
}

#[test]
fn content_length_reached_announces_eof_once() {
    let (w, r) = channel(Options::new().content_length(3));
    let edges = recorder(&r);
    w.try_write(b"ab").unwrap();
    w.try_write(b"c").unwrap();
    w.close().unwrap();
    assert_eq!(
        *edges.lock().unwrap(),
        [Edge::Readable, Edge::Readable, Edge::Eof]
    );
}

#[test]
fn abort_and_writer_drop_announce_eof() {
    let (w, r) = channel(Options::new());
    let edges = recorder(&r);
    w.abort(AbortReason::other("x")).unwrap();
    assert_eq!(*edges.lock().unwrap(), [Edge::Eof]);

    let (w, r) = channel(Options::new());
    let edges = recorder(&r);
    drop(w);
    assert_eq!(*edges.lock().unwrap(), [Edge::Eof]);
}

#[test]
fn removing_the_observer_stops_the_calls() {
    let (w, r) = channel(Options::new());
    let edges = recorder(&r);
    w.try_write(b"a").unwrap();
    w.set_observer(None);
    w.try_write(b"b").unwrap();
    assert_eq!(*edges.lock().unwrap(), [Edge::Readable]);
}

#[test]
fn an_observer_may_call_back_into_the_buffer() {
    let (w, r) = channel(Options::new().max_buffered(4));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (sink, handle, writer) = (Arc::clone(&seen), r.downgrade(), w.downgrade());
    r.set_observer(Some(Arc::new(move |e: Edge| {
        let handle = handle.upgrade().expect("the test holds the buffer");
        // Every call takes the buffer's lock; holding it here would deadlock.
        let info = handle.info();
        let peeked = handle.peek(16);
        if e == Edge::Writable {
            // Writing from inside the observer: a nested edge, delivered in turn.
            let writer = writer.upgrade().expect("the test holds the buffer");
            writer.try_write(b"!").unwrap();
        }
        sink.lock().unwrap().push((e, info.unread, peeked));
    })));
    w.try_write(b"abcdef").unwrap();
    r.read(2).wait().unwrap();
    w.close().unwrap();
    drop(w);
    let seen = seen.lock().unwrap();
    assert_eq!(
        *seen,
        [
            (Edge::Readable, 4, bytes::Bytes::from_static(b"abcd")),
            // The Writable call looked first, then wrote; the nested write's Readable edge was
            // delivered inside that call, so it is recorded first.
            (Edge::Readable, 3, bytes::Bytes::from_static(b"cd!")),
            (Edge::Writable, 2, bytes::Bytes::from_static(b"cd")),
            (Edge::Eof, 3, bytes::Bytes::from_static(b"cd!")),
        ]
    );
}

#[test]
fn observers_on_other_threads_see_the_change_they_announce() {
    let (w, r) = channel(Options::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    // A weak handle: a `Reader` captured here would keep the buffer alive through its own
    // observer (LeakSanitizer reported this test before).
    let (sink, handle) = (Arc::clone(&seen), r.downgrade());
    r.set_observer(Some(Arc::new(move |e: Edge| {
        if e == Edge::Readable {
            let handle = handle.upgrade().expect("the test holds the buffer");
            sink.lock().unwrap().push(handle.info().written);
        }
    })));
    let producer = std::thread::spawn(move || {
        for _ in 0..1000 {
            w.try_write(b"x").unwrap();
        }
        w.close().unwrap();
    });
    assert_eq!(r.read_to_end().wait().unwrap().len(), 1000);
    producer.join().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1000, "one Readable edge per non-empty write");
    assert!(
        seen.iter().all(|&written| written >= 1),
        "never before the bytes are there"
    );
    assert!(seen.windows(2).all(|p| p[0] <= p[1]));
}

/// Counts the observers alive, to see when the buffer releases one.
struct Tracked {
    _alive: Arc<()>,
}

impl py_buffer_core::Observer for Tracked {
    fn on_edge(&self, _: Edge) {}
}

#[test]
fn the_observer_is_released_once_no_edge_can_come() {
    let alive = Arc::new(());
    let (w, r) = channel(Options::new());
    w.set_observer(Some(Arc::new(Tracked {
        _alive: Arc::clone(&alive),
    })));
    w.close().unwrap();
    assert_eq!(
        Arc::strong_count(&alive),
        2,
        "the reader may still close: kept"
    );
    r.close();
    assert_eq!(Arc::strong_count(&alive), 1, "both sides ended: released");
    w.set_observer(Some(Arc::new(Tracked {
        _alive: Arc::clone(&alive),
    })));
    assert_eq!(
        Arc::strong_count(&alive),
        1,
        "a finished buffer keeps no new observer"
    );
}

#[test]
fn an_observer_holding_counted_handles_is_freed_when_both_sides_end() {
    // The cycle the `Leaks` docs warn about, broken by ending the body on both sides.
    let alive = Arc::new(());
    let (w, r) = channel(Options::new());
    let (reader, writer, token) = (r.clone(), w.clone(), Arc::clone(&alive));
    w.set_observer(Some(Arc::new(move |_: Edge| {
        let _ = (reader.info(), writer.info(), &token);
    })));
    w.close().unwrap();
    r.close();
    drop((w, r));
    assert_eq!(Arc::strong_count(&alive), 1, "observer and buffer freed");
}

#[test]
fn removing_an_observer_that_holds_the_last_reader_closes_without_deadlock() {
    let (w, r) = channel(Options::new());
    w.set_observer(Some(Arc::new(move |_: Edge| {
        let _ = r.info();
    })));
    // The observer's drop drops the last reader, which takes the lock: it must not be held.
    w.set_observer(None);
    assert!(matches!(
        w.try_write(b"x"),
        Err(py_buffer_core::Error::ReaderClosed)
    ));
}

#[test]
fn weak_handles_do_not_keep_the_buffer_alive() {
    let (w, r) = channel(Options::new());
    let (weak_r, weak_w) = (r.downgrade(), w.downgrade());
    let upgraded = weak_w.upgrade().unwrap();
    drop(w);
    upgraded.try_write(b"a").unwrap();
    drop(upgraded);
    assert!(
        r.info().aborted.is_some(),
        "the upgraded writer was the last one"
    );
    drop(r);
    assert!(weak_r.upgrade().is_none() && weak_w.upgrade().is_none());
}
