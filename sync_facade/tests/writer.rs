//! [`BlockingWriter`] in bounded mode: a write blocks until the reader drains and then
//! completes; writes larger than the bound complete in pieces; `write_some` and
//! `std::io::Write` report exact counts; a timeout fails with `TimedOut` after writing what fit;
//! close/abort/reader close wake a blocked writer. Also the reader's `std::io::Seek`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::thread;
use std::time::Duration;

use py_buffer_sync::{blocking, AbortReason, Bytes, Error, Options};

/// Waits until `cond` holds, yielding in between (a condition, not a sleep).
fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        thread::yield_now();
    }
}

#[test]
fn a_write_blocks_until_the_reader_drains() {
    let (writer, reader) = blocking(Options::new().max_buffered(4));
    let producer = thread::spawn(move || {
        writer.write_all(b"0123456789").unwrap();
        writer
    });
    // The writer wrote what fit and now waits: observable as 4 unread bytes.
    until(|| reader.readable_amount() == 4);
    assert_eq!(reader.read_exact_or_eof(4).unwrap(), &b"0123"[..]);
    until(|| reader.readable_amount() == 4);
    assert_eq!(reader.read_exact_or_eof(4).unwrap(), &b"4567"[..]);
    let writer = producer.join().unwrap();
    assert_eq!(reader.readable_amount(), 2);
    writer.close().unwrap();
    assert_eq!(reader.read_all().unwrap(), &b"89"[..]);
}

#[test]
fn writes_larger_than_the_bound_complete() {
    let (writer, mut reader) = blocking(Options::new().max_buffered(100));
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let expected = body.clone();
    let producer = thread::spawn(move || {
        writer.write_all(&body[..500_000]).unwrap();
        writer
            .write_bytes(Bytes::copy_from_slice(&body[500_000..]))
            .unwrap();
        writer.close().unwrap();
    });
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    producer.join().unwrap();
    assert_eq!(got, expected);
}

#[test]
fn write_some_and_io_write_report_exact_counts() {
    let (mut writer, reader) = blocking(Options::new().max_buffered(5));
    assert_eq!(writer.write_some(b"abc").unwrap(), 3);
    assert_eq!(writer.write_some(b"defg").unwrap(), 2);
    assert_eq!(writer.write_some(b"").unwrap(), 0);
    let producer = thread::spawn(move || {
        let n = Write::write(&mut writer, b"hij").unwrap();
        (n, writer)
    });
    until(|| reader.readable_amount() == 5);
    assert_eq!(reader.read1(2).unwrap(), &b"ab"[..]);
    let (n, writer) = producer.join().unwrap();
    assert_eq!(n, 2, "room for 2 after the reader took 2");
    writer.close().unwrap();
    assert_eq!(reader.read_all().unwrap(), &b"cdehi"[..]);
}

#[test]
fn a_blocked_write_times_out_after_writing_what_fit() {
    let (mut writer, reader) = blocking(Options::new().max_buffered(3));
    writer.set_timeout(Some(Duration::from_millis(30)));
    assert_eq!(writer.write_all(b"abcdef"), Err(Error::TimedOut));
    assert_eq!(reader.readable_amount(), 3);
    assert_eq!(writer.write_some(b"x"), Err(Error::TimedOut));
    assert_eq!(
        writer.write_bytes(Bytes::from_static(b"y")),
        Err(Error::TimedOut)
    );
    assert_eq!(reader.read_nonblock(10).unwrap(), &b"abc"[..]);
    assert_eq!(writer.write_some(b"xyzw").unwrap(), 3);
}

#[test]
fn close_abort_and_reader_close_wake_a_blocked_writer() {
    type Trigger = fn(&py_buffer_sync::BlockingWriter, &py_buffer_sync::BlockingReader);
    let cases: [(Trigger, Error); 3] = [
        (|_, r| r.close(), Error::ReaderClosed),
        (|w, _| w.close().unwrap(), Error::Closed),
        (
            |w, _| w.abort(AbortReason::other("stop")).unwrap(),
            Error::Aborted(AbortReason::other("stop")),
        ),
    ];
    for (trigger, expected) in cases {
        let (writer, reader) = blocking(Options::new().max_buffered(2));
        let other = writer.clone();
        let producer = thread::spawn(move || writer.write_all(b"abcd"));
        until(|| reader.readable_amount() == 2);
        trigger(&other, &reader);
        assert_eq!(producer.join().unwrap(), Err(expected));
    }
}

#[test]
fn unbounded_writes_never_block() {
    let (writer, reader) = blocking(Options::new());
    for _ in 0..1000 {
        writer.write_all(&[1u8; 1000]).unwrap();
    }
    assert_eq!(reader.readable_amount(), 1_000_000);
}

#[test]
fn std_seek_and_read() {
    let (writer, mut reader) = blocking(Options::new());
    writer.write_all(b"0123456789").unwrap();
    writer.close().unwrap();
    let mut four = [0u8; 4];
    reader.read_exact(&mut four).unwrap();
    assert_eq!(&four, b"0123");
    assert_eq!(reader.seek(SeekFrom::Current(-2)).unwrap(), 2);
    assert_eq!(reader.seek(SeekFrom::End(-3)).unwrap(), 7);
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "789");
    let e = reader.seek(SeekFrom::Start(11)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(reader.seek(SeekFrom::Start(0)).unwrap(), 0);
    assert_eq!(reader.read_all().unwrap(), &b"0123456789"[..]);
}

#[test]
fn fill_buf_then_seek_forgets_the_peeked_bytes() {
    use std::io::BufRead;
    let (writer, mut reader) = blocking(Options::new());
    writer.write_all(b"abcdef").unwrap();
    writer.close().unwrap();
    assert_eq!(reader.fill_buf().unwrap(), b"abcdef");
    reader.consume(2);
    assert_eq!(reader.fill_buf().unwrap(), b"cdef");
    reader.seek(SeekFrom::Start(1)).unwrap();
    assert_eq!(reader.fill_buf().unwrap(), b"bcdef");
    let mut buf = [0u8; 3];
    assert_eq!(reader.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf, b"bcd");
    assert_eq!(reader.tell(), 4);
}
