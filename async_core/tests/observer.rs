//! The readiness hook: exact edge sequences (Readable / Writable / Eof / ReaderClosed), and
//! observers that call back into the buffer — which must not deadlock, because edges are
//! delivered after the lock is released.
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
    let (sink, handle, writer) = (Arc::clone(&seen), r.clone(), w.clone());
    r.set_observer(Some(Arc::new(move |e: Edge| {
        // Every call takes the buffer's lock; holding it here would deadlock.
        let info = handle.info();
        let peeked = handle.peek(16);
        if e == Edge::Writable {
            // Writing from inside the observer: a nested edge, delivered in turn.
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
    let (sink, handle) = (Arc::clone(&seen), r.clone());
    r.set_observer(Some(Arc::new(move |e: Edge| {
        if e == Edge::Readable {
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
