//! Bounded mode (`max_buffered`): partial `try_write` counts, writers that wait until the
//! reader drains, writes larger than the bound, consumed blocks released (`Info::retained`
//! stays bounded while megabytes stream through) and seeks before the retained window refused.
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::io::SeekFrom;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{FutureExt, SinkExt};
use py_buffer_core::{channel, Edge, Error, Options, SeekError};

#[test]
fn try_write_accepts_only_what_fits() {
    let (w, r) = channel(Options::new().max_buffered(10));
    assert_eq!(w.try_write(b"abcdef").unwrap(), 6);
    assert_eq!(w.try_write(b"ghijkl").unwrap(), 4);
    assert_eq!(w.try_write(b"m").unwrap(), 0);
    assert_eq!(w.try_write(b"").unwrap(), 0);
    assert_eq!(r.read(3).wait().unwrap(), &b"abc"[..]);
    assert_eq!(w.try_write(b"mnopq").unwrap(), 3);
    let mut owned = Bytes::from_static(b"rstu");
    assert_eq!(w.try_write_bytes(&mut owned).unwrap(), 0);
    assert_eq!(owned, &b"rstu"[..]);
    r.read(2).wait().unwrap();
    assert_eq!(w.try_write_bytes(&mut owned).unwrap(), 2);
    assert_eq!(owned, &b"tu"[..], "the accepted prefix is split off");
    w.close().unwrap();
    assert_eq!(r.read_to_end().wait().unwrap(), &b"fghijmnors"[..]);
}

#[test]
fn a_bound_of_zero_is_one() {
    let (w, r) = channel(Options::new().max_buffered(0));
    assert_eq!(w.try_write(b"ab").unwrap(), 1);
    assert_eq!(r.info().max_buffered, Some(1));
}

#[test]
fn write_waits_until_the_reader_drains() {
    let (w, r) = channel(Options::new().max_buffered(4));
    let mut write = w.write(b"0123456789");
    assert!((&mut write).now_or_never().is_none(), "only 4 fit");
    assert_eq!(r.readable_amount(), 4);
    let mut room = w.wait_writable();
    assert!((&mut room).now_or_never().is_none());
    assert_eq!(r.read(3).wait().unwrap(), &b"012"[..]);
    assert_eq!(room.now_or_never(), Some(Ok(())));
    assert!(
        (&mut write).now_or_never().is_none(),
        "3 more fit, 3 still to go"
    );
    assert_eq!(r.read(4).wait().unwrap(), &b"3456"[..]);
    assert_eq!(write.now_or_never(), Some(Ok(())));
    assert_eq!(r.readable_amount(), 3);
}

#[test]
fn a_write_larger_than_the_bound_completes_across_threads() {
    let (w, r) = channel(Options::new().max_buffered(1000));
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let expected = body.clone();
    let producer = std::thread::spawn(move || {
        w.write(&body).wait().unwrap();
        w.write_bytes(Bytes::from(body)).wait().unwrap();
        w.close().unwrap();
    });
    let mut got = Vec::new();
    loop {
        let chunk = r.read1(777).wait().unwrap();
        if chunk.is_empty() {
            break;
        }
        assert!(r.info().unread <= 1000);
        got.extend_from_slice(&chunk);
    }
    producer.join().unwrap();
    assert_eq!(got.len(), 200_000);
    assert_eq!(&got[..100_000], &expected[..]);
    assert_eq!(&got[100_000..], &expected[..]);
}

#[test]
fn close_and_reader_close_wake_a_waiting_writer() {
    let (w, r) = channel(Options::new().max_buffered(2));
    let mut write = w.write(b"abcd");
    assert!((&mut write).now_or_never().is_none());
    r.close();
    assert_eq!(write.now_or_never(), Some(Err(Error::ReaderClosed)));

    let (w, r) = channel(Options::new().max_buffered(2));
    let w2 = w.clone();
    let mut write = w.write(b"abcd");
    assert!((&mut write).now_or_never().is_none());
    w2.abort(py_buffer_core::AbortReason::other("stop"))
        .unwrap();
    assert_eq!(
        write.now_or_never(),
        Some(Err(Error::Aborted(py_buffer_core::AbortReason::other(
            "stop"
        ))))
    );
    assert_eq!(r.read(2).wait().unwrap(), &b"ab"[..]);
}

#[test]
fn consumed_blocks_are_released_and_retained_stays_bounded() {
    const BOUND: usize = 64 * 1024;
    let (w, r) = channel(Options::new().max_buffered(BOUND));
    let chunk = vec![5u8; 10_000];
    let mut read = 0usize;
    let mut max_retained = 0;
    for _ in 0..2_000 {
        let n = w.try_write(&chunk).unwrap();
        assert!(n > 0, "the reader drained, so there is room");
        let got = r.read1(usize::MAX).wait().unwrap();
        read += got.len();
        max_retained = max_retained.max(r.info().retained);
        assert!(r.info().unread as usize <= BOUND);
    }
    assert!(read > 10_000_000);
    assert!(
        max_retained <= 2 * BOUND as u64,
        "retained {max_retained} bytes while streaming {read}"
    );
    // The first bytes are gone: seeking there is refused with the window's start.
    let first = r.info().written - r.info().retained;
    assert!(first > 0);
    assert_eq!(
        r.seek(SeekFrom::Start(0)),
        Err(Error::InvalidSeek(SeekError::BeforeStart {
            target: 0,
            first
        }))
    );
    // Within the retained window, seeking back works.
    assert_eq!(r.seek(SeekFrom::Start(first)).unwrap(), first);
}

#[test]
fn default_mode_retains_everything() {
    let (w, r) = channel(Options::new());
    let chunk = vec![1u8; 100_000];
    for _ in 0..20 {
        w.try_write(&chunk).unwrap();
        r.read1(usize::MAX).wait().unwrap();
    }
    assert_eq!(r.info().retained, 2_000_000);
    assert_eq!(r.seek(SeekFrom::Start(0)).unwrap(), 0);
}

#[test]
fn the_writable_edge_fires_once_room_is_made_after_a_refusal() {
    let (w, r) = channel(Options::new().max_buffered(4));
    let edges = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&edges);
    w.set_observer(Some(Arc::new(move |e: Edge| sink.lock().unwrap().push(e))));
    w.try_write(b"ab").unwrap();
    r.read(1).wait().unwrap();
    assert_eq!(
        *edges.lock().unwrap(),
        [Edge::Readable],
        "no writer waited: no Writable"
    );
    assert_eq!(w.try_write(b"cdef").unwrap(), 3);
    assert_eq!(w.try_write(b"f").unwrap(), 0);
    r.read(1).wait().unwrap();
    r.read(1).wait().unwrap();
    assert_eq!(
        *edges.lock().unwrap(),
        [Edge::Readable, Edge::Readable, Edge::Writable],
        "one Writable edge per refusal"
    );
}

#[test]
fn sink_sends_whole_items_once_there_is_room() {
    let (mut w, r) = channel(Options::new().max_buffered(4));
    // read_to_end would wait for EOF without draining: read in pieces instead.
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            let chunk = r.read1(3).wait().unwrap();
            if chunk.is_empty() {
                break got;
            }
            got.extend_from_slice(&chunk);
        }
    });
    futures::executor::block_on(async {
        for item in [&b"0123456"[..], b"78", b"9abcdef"] {
            w.send(Bytes::copy_from_slice(item)).await.unwrap();
        }
        SinkExt::close(&mut w).await.unwrap();
    });
    assert_eq!(reader.join().unwrap(), &b"0123456789abcdef"[..]);
}
