//! Every reader operation on bytes that are already there or arrive later: exact results for
//! `read(n)`, `read_to_end`, `read1`, `readline`, `read_until`, `readlines`, `read_nonblock`,
//! `readable_amount`, `at_eof`, and the non-consuming `peek`/`fill`/`consume`/`snapshot`.
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use bytes::Bytes;
use futures::executor::block_on;
use futures::FutureExt;
use py_buffer_core::{channel, Options, ReadKind, Reader, Writer};

fn closed_with(parts: &[&[u8]]) -> (Writer, Reader) {
    let (w, r) = channel(Options::new());
    for p in parts {
        assert_eq!(w.try_write(p).unwrap(), p.len());
    }
    w.close().unwrap();
    (w, r)
}

#[test]
fn read_n_returns_exactly_n_then_short_at_clean_eof() {
    let (_w, r) = closed_with(&[b"hel", b"lo wo", b"rld"]);
    assert_eq!(r.read(4).wait().unwrap(), &b"hell"[..]);
    assert_eq!(r.read(0).wait().unwrap(), &b""[..]);
    assert_eq!(r.read(4).wait().unwrap(), &b"o wo"[..]);
    assert_eq!(r.read(10).wait().unwrap(), &b"rld"[..]);
    assert_eq!(r.read(10).wait().unwrap(), &b""[..]);
    assert!(r.at_eof());
}

#[test]
fn read_n_waits_until_n_bytes_arrived() {
    let (w, r) = channel(Options::new());
    w.try_write(b"ab").unwrap();
    let mut op = r.read(4);
    assert!(
        (&mut op).now_or_never().is_none(),
        "2 of 4 bytes: must wait"
    );
    assert_eq!(r.tell(), 0, "a waiting read consumes nothing");
    w.try_write(b"c").unwrap();
    assert!((&mut op).now_or_never().is_none());
    w.try_write(b"def").unwrap();
    assert_eq!(op.now_or_never().unwrap().unwrap(), &b"abcd"[..]);
    assert_eq!(r.readable_amount(), 2);
}

#[test]
fn read_to_end_waits_for_close() {
    let (w, r) = channel(Options::new());
    w.try_write(b"abc").unwrap();
    let mut op = r.read_to_end();
    assert!((&mut op).now_or_never().is_none());
    w.try_write(b"def").unwrap();
    assert!((&mut op).now_or_never().is_none());
    w.close().unwrap();
    assert_eq!(op.now_or_never().unwrap().unwrap(), &b"abcdef"[..]);
    assert_eq!(r.read_to_end().wait().unwrap(), &b""[..]);
}

#[test]
fn read1_returns_what_is_there_and_waits_only_when_empty() {
    let (w, r) = channel(Options::new());
    let mut op = r.read1(10);
    assert!((&mut op).now_or_never().is_none());
    w.try_write(b"xyz").unwrap();
    assert_eq!(op.now_or_never().unwrap().unwrap(), &b"xyz"[..]);
    w.try_write(b"12345").unwrap();
    assert_eq!(r.read1(2).wait().unwrap(), &b"12"[..]);
    assert_eq!(r.read1(0).wait().unwrap(), &b""[..], "read1(0) never waits");
    assert_eq!(r.read1(100).wait().unwrap(), &b"345"[..]);
    w.close().unwrap();
    assert_eq!(r.read1(100).wait().unwrap(), &b""[..]);
}

#[test]
fn readline_honours_the_limit_and_spans_blocks() {
    let (_w, r) = closed_with(&[b"fir", b"st\nsec", b"ond line\n", b"\nlast"]);
    assert_eq!(r.readline(None).wait().unwrap(), &b"first\n"[..]);
    assert_eq!(r.readline(Some(3)).wait().unwrap(), &b"sec"[..]);
    assert_eq!(r.readline(Some(0)).wait().unwrap(), &b""[..]);
    assert_eq!(r.readline(Some(9)).wait().unwrap(), &b"ond line\n"[..]);
    assert_eq!(r.readline(Some(1)).wait().unwrap(), &b"\n"[..]);
    assert_eq!(
        r.readline(None).wait().unwrap(),
        &b"last"[..],
        "the rest at EOF"
    );
    assert_eq!(r.readline(None).wait().unwrap(), &b""[..]);
}

#[test]
fn readline_waits_for_the_newline_or_the_limit() {
    let (w, r) = channel(Options::new());
    w.try_write(b"abc").unwrap();
    let mut op = r.readline(None);
    assert!((&mut op).now_or_never().is_none());
    w.try_write(b"de").unwrap();
    assert!((&mut op).now_or_never().is_none());
    w.try_write(b"f\ng").unwrap();
    assert_eq!(op.now_or_never().unwrap().unwrap(), &b"abcdef\n"[..]);
    let mut op = r.readline(Some(3));
    assert!(
        (&mut op).now_or_never().is_none(),
        "1 byte, limit 3, no newline"
    );
    w.try_write(b"hij").unwrap();
    assert_eq!(op.now_or_never().unwrap().unwrap(), &b"ghi"[..]);
}

#[test]
fn read_until_uses_any_delimiter() {
    let (_w, r) = closed_with(&[b"k1=v1&k2", b"=v2&", b"k3"]);
    assert_eq!(r.read_until(b'&', None).wait().unwrap(), &b"k1=v1&"[..]);
    assert_eq!(r.read_until(b'&', Some(2)).wait().unwrap(), &b"k2"[..]);
    assert_eq!(r.read_until(b'&', None).wait().unwrap(), &b"=v2&"[..]);
    assert_eq!(r.read_until(b'&', None).wait().unwrap(), &b"k3"[..]);
    assert_eq!(r.read_until(b'&', None).wait().unwrap(), &b""[..]);
}

#[test]
fn readlines_stops_once_the_total_reaches_the_hint() {
    let body: &[u8] = b"aa\nbbb\nc\ndddd\ntail";
    let (_w, r) = closed_with(&[body]);
    assert_eq!(
        r.readlines(Some(1)).wait().unwrap(),
        vec![Bytes::from_static(b"aa\n")]
    );
    assert_eq!(
        r.readlines(Some(5)).wait().unwrap(),
        vec![Bytes::from_static(b"bbb\n"), Bytes::from_static(b"c\n")]
    );
    assert_eq!(
        r.readlines(None).wait().unwrap(),
        vec![Bytes::from_static(b"dddd\n"), Bytes::from_static(b"tail")]
    );
    assert!(r.readlines(None).wait().unwrap().is_empty());

    let (_w, r) = closed_with(&[body]);
    assert_eq!(
        r.readlines(Some(3)).wait().unwrap(),
        vec![Bytes::from_static(b"aa\n")],
        "a hint met exactly by the first line stops there"
    );
    let (_w, r) = closed_with(&[body]);
    assert_eq!(
        r.readlines(Some(100)).wait().unwrap().len(),
        5,
        "hint beyond EOF: all"
    );
}

#[test]
fn readlines_waits_until_the_hint_is_reached_or_eof() {
    let (w, r) = channel(Options::new());
    w.try_write(b"ab\ncd").unwrap();
    let mut op = r.readlines(Some(4));
    assert!(
        (&mut op).now_or_never().is_none(),
        "3 bytes of whole lines < hint 4"
    );
    w.try_write(b"\nef").unwrap();
    assert_eq!(
        op.now_or_never().unwrap().unwrap(),
        vec![Bytes::from_static(b"ab\n"), Bytes::from_static(b"cd\n")]
    );
    let mut op = r.readlines(None);
    assert!((&mut op).now_or_never().is_none());
    w.close().unwrap();
    assert_eq!(
        op.now_or_never().unwrap().unwrap(),
        vec![Bytes::from_static(b"ef")]
    );
}

#[test]
fn read_nonblock_takes_only_what_is_there() {
    let (w, r) = channel(Options::new());
    assert_eq!(r.read_nonblock(5).unwrap(), &b""[..]);
    w.try_write(b"abc").unwrap();
    assert_eq!(r.read_nonblock(2).unwrap(), &b"ab"[..]);
    assert_eq!(r.read_nonblock(0).unwrap(), &b""[..]);
    assert_eq!(r.read_nonblock(5).unwrap(), &b"c"[..]);
    assert_eq!(r.read_nonblock(5).unwrap(), &b""[..]);
    assert!(!r.at_eof());
    w.close().unwrap();
    assert_eq!(r.read_nonblock(5).unwrap(), &b""[..]);
    assert!(r.at_eof());
}

#[test]
fn readable_amount_and_at_eof_follow_the_state() {
    let (w, r) = channel(Options::new());
    assert_eq!(r.readable_amount(), 0);
    assert!(!r.at_eof());
    w.try_write(b"12345").unwrap();
    assert_eq!(r.readable_amount(), 5);
    r.read(2).wait().unwrap();
    assert_eq!(r.readable_amount(), 3);
    w.close().unwrap();
    assert!(!r.at_eof(), "bytes left");
    r.read(3).wait().unwrap();
    assert!(r.at_eof());
    assert_eq!(r.readable_amount(), 0);
    let info = r.info();
    assert_eq!((info.written, info.position, info.unread), (5, 5, 0));
    assert!(info.closed && info.ended && info.aborted.is_none() && !info.reader_closed);
}

#[test]
fn peek_fill_and_consume_do_not_lose_bytes() {
    let (w, r) = channel(Options::new());
    assert_eq!(r.peek(4), &b""[..]);
    let mut fill = r.fill(4);
    assert!(
        (&mut fill).now_or_never().is_none(),
        "fill waits while empty"
    );
    w.try_write(b"ab").unwrap();
    w.try_write(b"cdef").unwrap();
    assert_eq!(fill.now_or_never().unwrap().unwrap(), &b"abcd"[..]);
    assert_eq!(r.peek(3), &b"abc"[..]);
    assert_eq!(r.peek(100), &b"abcdef"[..]);
    assert_eq!(r.tell(), 0);
    assert_eq!(r.consume(2), 2);
    assert_eq!(r.peek(2), &b"cd"[..]);
    assert_eq!(r.consume(100), 4, "consume stops at the unread bytes");
    assert_eq!(r.consume(1), 0);
    w.close().unwrap();
    assert_eq!(r.fill(4).wait().unwrap(), &b""[..], "clean EOF");
}

#[test]
fn snapshot_is_the_unread_bytes_and_later_writes_do_not_change_it() {
    let (w, r) = channel(Options::new());
    w.try_write(b"hello ").unwrap();
    w.try_write(b"world").unwrap();
    r.read(6).wait().unwrap();
    let snap = r.snapshot();
    assert_eq!(snap, &b"world"[..]);
    let ptr = snap.as_ptr();
    let big = vec![9u8; 300 * 1024];
    for _ in 0..20 {
        w.try_write(&big).unwrap();
    }
    w.write_bytes(Bytes::from(vec![8u8; 1 << 20]))
        .wait()
        .unwrap();
    assert_eq!(snap, &b"world"[..]);
    assert_eq!(snap.as_ptr(), ptr, "the snapshot never moves");
    let again = r.snapshot();
    assert_eq!(again.len(), 5 + 20 * big.len() + (1 << 20));
    assert_eq!(&again[..5], b"world");
    assert_eq!(again[5 + 20 * big.len()], 8);
    assert_eq!(snap, &b"world"[..]);
    assert_eq!(r.tell(), 6, "a snapshot consumes nothing");
}

#[test]
fn read_with_hands_the_slices_to_the_consumer() {
    let (w, r) = channel(Options::new());
    w.try_write(b"abc").unwrap();
    w.write_bytes(Bytes::from(vec![b'd'; 8192])).wait().unwrap();
    let (n, first, last) = r
        .read_with(ReadKind::Exact(8195), |s| {
            let v = s.to_vec();
            (s.len(), v[0], v[8194])
        })
        .wait()
        .unwrap();
    assert_eq!((n, first, last), (8195, b'a', b'd'));
    assert_eq!(r.try_read_with(ReadKind::Available(4), |s| s.len()), None);
    w.close().unwrap();
    assert_eq!(
        r.try_read_with(ReadKind::Available(4), |s| s.len()),
        Some(Ok(0))
    );
}

#[test]
fn ready_resolves_without_consuming() {
    let (w, r) = channel(Options::new());
    let mut ready = r.ready(ReadKind::Exact(3));
    assert!((&mut ready).now_or_never().is_none());
    w.try_write(b"abc").unwrap();
    assert_eq!(ready.now_or_never(), Some(()));
    assert_eq!(r.readable_amount(), 3);
}

#[test]
fn async_reads_wake_on_a_write_from_another_thread() {
    let (w, r) = channel(Options::new());
    let producer = std::thread::spawn(move || {
        for chunk in [&b"one\n"[..], b"two\n", b"three"] {
            w.try_write(chunk).unwrap();
        }
        w.close().unwrap();
    });
    let lines = block_on(async {
        let mut out = Vec::new();
        loop {
            let line = r.readline(None).await.unwrap();
            if line.is_empty() {
                break out;
            }
            out.push(line);
        }
    });
    producer.join().unwrap();
    assert_eq!(lines, [&b"one\n"[..], b"two\n", b"three"]);
}

#[test]
fn clones_share_one_read_position() {
    let (_w, r) = closed_with(&[b"abcdef"]);
    let r2 = r.clone();
    assert_eq!(r.read(2).wait().unwrap(), &b"ab"[..]);
    assert_eq!(r2.read(2).wait().unwrap(), &b"cd"[..]);
    assert_eq!(r2.tell(), 4);
    assert_eq!(r.writer().info().position, 4);
}

#[test]
fn huge_hints_and_limits_do_not_overflow() {
    let (_w, r) = closed_with(&[b"ab\ncd\nef"]);
    assert_eq!(r.read(1).wait().unwrap(), &b"a"[..]);
    assert_eq!(
        r.readlines(Some(usize::MAX)).wait().unwrap(),
        vec![
            Bytes::from_static(b"b\n"),
            Bytes::from_static(b"cd\n"),
            Bytes::from_static(b"ef")
        ]
    );
    let (_w, r) = closed_with(&[b"ab\ncd"]);
    r.read(1).wait().unwrap();
    assert_eq!(r.readline(Some(usize::MAX)).wait().unwrap(), &b"b\n"[..]);
    assert_eq!(r.read(usize::MAX).wait().unwrap(), &b"cd"[..]);
    assert_eq!(r.find(b"x", usize::MAX, Some(usize::MAX)), None);
}
