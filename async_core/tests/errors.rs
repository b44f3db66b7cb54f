//! Every error path, exactly: writes after close/abort/reader close, `Overflow` with nothing
//! written, `Truncated { expected, got }` and `Aborted(..)` raised only once the bytes that did
//! arrive cannot satisfy a read (a failing read consumes nothing), content length ending the
//! body without close, and a dropped last writer aborting with `WriterGone`.
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use bytes::Bytes;
use futures::FutureExt;
use py_buffer_core::{channel, AbortReason, Error, Options, ReadKind};

fn truncated(expected: u64, got: u64) -> Error {
    Error::Truncated { expected, got }
}

#[test]
fn writes_after_close_fail_and_change_nothing() {
    let (w, r) = channel(Options::new());
    w.try_write(b"ab").unwrap();
    w.close().unwrap();
    w.close().unwrap(); // idempotent
    assert_eq!(w.try_write(b"c"), Err(Error::Closed));
    assert_eq!(w.try_write(b""), Err(Error::Closed));
    assert_eq!(
        w.try_write_bytes(&mut Bytes::from_static(b"c")),
        Err(Error::Closed)
    );
    assert_eq!(w.write(b"c").wait(), Err(Error::Closed));
    assert_eq!(
        w.write_bytes(Bytes::from_static(b"c")).wait(),
        Err(Error::Closed)
    );
    assert_eq!(w.wait_writable().wait(), Err(Error::Closed));
    assert_eq!(w.abort(AbortReason::other("late")), Err(Error::Closed));
    assert_eq!(r.info().written, 2);
    assert_eq!(r.read_to_end().wait().unwrap(), &b"ab"[..]);
}

#[test]
fn writes_after_abort_fail_with_the_first_reason() {
    let (w, r) = channel(Options::new());
    w.abort(AbortReason::other("client disconnected")).unwrap();
    w.abort(AbortReason::other("second")).unwrap();
    let aborted = Error::Aborted(AbortReason::other("client disconnected"));
    assert_eq!(w.try_write(b"x"), Err(aborted.clone()));
    assert_eq!(w.close(), Err(aborted.clone()));
    assert_eq!(r.read(1).wait(), Err(aborted.clone()));
    assert_eq!(
        r.info().aborted,
        Some(AbortReason::other("client disconnected"))
    );
    assert_eq!(aborted.to_string(), "body aborted: client disconnected");
}

#[test]
fn writes_after_the_reader_closed_fail_with_reader_closed() {
    let (w, r) = channel(Options::new());
    w.try_write(b"abc").unwrap();
    r.close();
    assert_eq!(w.try_write(b"d"), Err(Error::ReaderClosed));
    assert_eq!(w.write(b"d").wait(), Err(Error::ReaderClosed));
    assert_eq!(w.wait_writable().wait(), Err(Error::ReaderClosed));
    assert!(r.info().reader_closed);
    // Reads after the reader's close return what remains, then EOF.
    assert_eq!(r.read(2).wait().unwrap(), &b"ab"[..]);
    assert_eq!(r.read_to_end().wait().unwrap(), &b"c"[..]);
    assert_eq!(r.read(2).wait().unwrap(), &b""[..]);
    assert!(r.at_eof());
}

#[test]
fn reader_close_wakes_a_blocked_read() {
    let (_w, r) = channel(Options::new());
    let mut op = r.read(4);
    assert!((&mut op).now_or_never().is_none());
    r.close();
    assert_eq!(op.now_or_never().unwrap().unwrap(), &b""[..]);
}

#[test]
fn overflow_writes_nothing() {
    let (w, r) = channel(Options::new().content_length(5));
    w.try_write(b"abc").unwrap();
    let overflow = Error::Overflow {
        content_length: 5,
        attempted: 6,
    };
    assert_eq!(w.try_write(b"def"), Err(overflow.clone()));
    assert_eq!(w.write(b"def").wait(), Err(overflow.clone()));
    let mut owned = Bytes::from_static(b"def");
    assert_eq!(w.try_write_bytes(&mut owned), Err(overflow));
    assert_eq!(
        owned,
        &b"def"[..],
        "the refused bytes are given back untouched"
    );
    assert_eq!(r.info().written, 3);
    assert_eq!(r.readable_amount(), 3);
    w.try_write(b"de").unwrap();
    assert_eq!(
        w.try_write(b"f"),
        Err(Error::Overflow {
            content_length: 5,
            attempted: 6
        })
    );
    assert_eq!(w.try_write(b""), Ok(0));
    assert_eq!(r.read_to_end().wait().unwrap(), &b"abcde"[..]);
}

#[test]
fn content_length_reached_is_eof_without_close() {
    let (w, r) = channel(Options::new().content_length(6));
    let mut op = r.read_to_end();
    w.try_write(b"abc").unwrap();
    assert!((&mut op).now_or_never().is_none());
    w.try_write(b"def").unwrap();
    assert_eq!(op.now_or_never().unwrap().unwrap(), &b"abcdef"[..]);
    assert!(r.at_eof());
    assert!(r.info().ended && !r.info().closed);
    // close afterwards is fine and changes nothing.
    w.close().unwrap();
    assert_eq!(r.read(1).wait().unwrap(), &b""[..]);
    // A zero content length is at EOF from the start.
    let (_w, r) = channel(Options::new().content_length(0));
    assert!(r.at_eof());
    assert_eq!(r.read_to_end().wait().unwrap(), &b""[..]);
}

#[test]
fn truncated_only_once_the_arrived_bytes_cannot_satisfy_a_read() {
    let (w, r) = channel(Options::new().content_length(10));
    w.try_write(b"abcdef").unwrap();
    w.close().unwrap();
    let t = truncated(10, 6);
    assert_eq!(r.read(4).wait().unwrap(), &b"abcd"[..]);
    assert_eq!(r.read(3).wait(), Err(t.clone()));
    assert_eq!(r.tell(), 4, "a failing read consumes nothing");
    assert_eq!(r.read_to_end().wait(), Err(t.clone()));
    assert_eq!(r.readline(None).wait(), Err(t.clone()));
    assert_eq!(r.readlines(None).wait(), Err(t.clone()));
    assert_eq!(
        r.readline(Some(2)).wait().unwrap(),
        &b"ef"[..],
        "the limit is met"
    );
    assert_eq!(r.read1(5).wait(), Err(t.clone()));
    assert_eq!(r.read_nonblock(5), Err(t.clone()));
    assert_eq!(r.fill(5).wait(), Err(t.clone()));
    assert_eq!(r.read(0).wait().unwrap(), &b""[..]);
    assert!(r.at_eof());
    assert_eq!(t.to_string(), "body truncated: expected 10 bytes, got 6");
}

#[test]
fn read1_and_read_nonblock_return_arrived_bytes_before_the_error() {
    let (w, r) = channel(Options::new().content_length(10));
    w.try_write(b"abc").unwrap();
    w.close().unwrap();
    assert_eq!(r.read(5).wait(), Err(truncated(10, 3)));
    assert_eq!(r.read_nonblock(2).unwrap(), &b"ab"[..]);
    assert_eq!(r.read1(9).wait().unwrap(), &b"c"[..]);
    assert_eq!(r.read1(9).wait(), Err(truncated(10, 3)));
}

#[test]
fn a_line_that_ends_before_a_failure_is_still_returned() {
    let (w, r) = channel(Options::new());
    w.try_write(b"line\npartial").unwrap();
    w.abort(AbortReason::other("reset")).unwrap();
    let e = Error::Aborted(AbortReason::other("reset"));
    assert_eq!(r.readline(None).wait().unwrap(), &b"line\n"[..]);
    assert_eq!(r.readline(None).wait(), Err(e.clone()));
    assert_eq!(r.readlines(Some(3)).wait(), Err(e.clone()));
    assert_eq!(r.read_until(b'r', None).wait().unwrap(), &b"par"[..]);
    assert_eq!(r.read(4).wait().unwrap(), &b"tial"[..]);
    assert_eq!(r.read(1).wait(), Err(e));
}

#[test]
fn abort_wakes_a_blocked_read_with_the_error() {
    let (w, r) = channel(Options::new());
    w.try_write(b"ab").unwrap();
    let mut op = r.read(3);
    assert!((&mut op).now_or_never().is_none());
    w.abort(AbortReason::other("x")).unwrap();
    assert_eq!(
        op.now_or_never().unwrap(),
        Err(Error::Aborted(AbortReason::other("x")))
    );
    assert_eq!(r.tell(), 0);
}

#[test]
fn dropping_the_last_writer_aborts_with_writer_gone() {
    let (w, r) = channel(Options::new());
    let w2 = w.clone();
    w.try_write(b"abc").unwrap();
    let mut op = r.read(4);
    assert!((&mut op).now_or_never().is_none());
    drop(w);
    assert!(
        (&mut op).now_or_never().is_none(),
        "one writer handle is left"
    );
    assert!(r.info().aborted.is_none());
    drop(w2);
    let gone = Error::Aborted(AbortReason::WriterGone);
    assert_eq!(op.now_or_never().unwrap(), Err(gone.clone()));
    assert_eq!(r.read(3).wait().unwrap(), &b"abc"[..]);
    assert_eq!(r.read(1).wait(), Err(gone.clone()));
    assert_eq!(gone.to_string(), "body aborted: writer gone");
    // A writer made from the reader afterwards cannot revive the body.
    assert_eq!(r.writer().try_write(b"x"), Err(gone));
}

#[test]
fn dropping_a_closed_writer_is_a_clean_end() {
    let (w, r) = channel(Options::new());
    w.try_write(b"abc").unwrap();
    w.close().unwrap();
    drop(w);
    assert_eq!(r.read_to_end().wait().unwrap(), &b"abc"[..]);
    assert!(r.info().aborted.is_none());
}

#[test]
fn dropping_the_writer_after_the_content_length_arrived_is_a_clean_end() {
    let (w, r) = channel(Options::new().content_length(3));
    w.try_write(b"abc").unwrap();
    drop(w);
    assert_eq!(r.read_to_end().wait().unwrap(), &b"abc"[..]);
    assert!(r.at_eof());
}

#[test]
fn writer_handles_made_from_the_reader_count() {
    let (w, r) = channel(Options::new());
    let w2 = r.writer();
    drop(w);
    w2.try_write(b"still open").unwrap();
    assert!(r.info().aborted.is_none());
    drop(w2);
    assert_eq!(r.info().aborted, Some(AbortReason::WriterGone));
}

#[test]
fn a_failed_try_read_with_consumes_nothing() {
    let (w, r) = channel(Options::new().content_length(4));
    w.try_write(b"ab").unwrap();
    w.close().unwrap();
    let mut called = false;
    let out = r.try_read_with(ReadKind::Exact(3), |_| called = true);
    assert_eq!(out, Some(Err(truncated(4, 2))));
    assert!(!called);
    assert_eq!(r.tell(), 0);
}

#[test]
fn a_consume_that_fails_takes_nothing_and_one_that_succeeds_takes_all() {
    let (w, r) = channel(Options::new().max_buffered(4));
    w.try_write(b"abcd").unwrap();
    let failed = r.try_read_or_keep(ReadKind::Available(3), |s| Err::<(), _>(s.len()));
    assert_eq!(failed, Some(Ok(Err(3))));
    assert_eq!((r.tell(), r.readable_amount()), (0, 4));
    assert_eq!(w.try_write(b"e").unwrap(), 0); // still full: nothing was released
    let taken = r.try_read_or_keep(ReadKind::Available(3), |s| Ok::<_, ()>(s.to_vec()));
    assert_eq!(taken, Some(Ok(Ok(b"abc".to_vec()))));
    assert_eq!(r.tell(), 3);
}

#[test]
fn io_errors_carry_the_typed_error() {
    let e = std::io::Error::from(Error::Aborted(AbortReason::WriterGone));
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionAborted);
    assert_eq!(
        e.get_ref().unwrap().downcast_ref::<Error>(),
        Some(&Error::Aborted(AbortReason::WriterGone))
    );
}
