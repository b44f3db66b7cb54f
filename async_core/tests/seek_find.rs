//! `seek`/`tell` under the `SeekFrom::{Start, Current, End}` rules (exact `InvalidSeek`
//! variants), and `find` relative to the read position with `start`/`end` and needles split
//! across storage blocks.
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::io::SeekFrom;

use bytes::Bytes;
use futures::FutureExt;
use py_buffer_core::{channel, Error, Options, SeekError};

#[test]
fn seek_start_and_current_move_within_written_bytes() {
    let (w, r) = channel(Options::new());
    w.try_write(b"0123456789").unwrap();
    assert_eq!(r.tell(), 0);
    assert_eq!(r.seek(SeekFrom::Start(4)).unwrap(), 4);
    assert_eq!(r.read(2).wait().unwrap(), &b"45"[..]);
    assert_eq!(r.seek(SeekFrom::Current(-3)).unwrap(), 3);
    assert_eq!(r.read(1).wait().unwrap(), &b"3"[..]);
    assert_eq!(r.seek(SeekFrom::Current(0)).unwrap(), 4);
    assert_eq!(
        r.seek(SeekFrom::Start(10)).unwrap(),
        10,
        "the end of what was written"
    );
    assert_eq!(r.readable_amount(), 0);
    assert_eq!(
        r.seek(SeekFrom::Start(0)).unwrap(),
        0,
        "seekable from 0 by default"
    );
    assert_eq!(r.read(3).wait().unwrap(), &b"012"[..]);
}

#[test]
fn seek_out_of_range_fails_and_keeps_the_position() {
    let (w, r) = channel(Options::new());
    w.try_write(b"0123456789").unwrap();
    r.seek(SeekFrom::Start(5)).unwrap();
    assert_eq!(
        r.seek(SeekFrom::Start(11)),
        Err(Error::InvalidSeek(SeekError::PastEnd {
            target: 11,
            written: 10
        }))
    );
    assert_eq!(
        r.seek(SeekFrom::Current(-6)),
        Err(Error::InvalidSeek(SeekError::BeforeStart {
            target: -1,
            first: 0
        }))
    );
    assert_eq!(
        r.seek(SeekFrom::Current(6)),
        Err(Error::InvalidSeek(SeekError::PastEnd {
            target: 11,
            written: 10
        }))
    );
    assert_eq!(
        r.seek(SeekFrom::End(0)),
        Err(Error::InvalidSeek(SeekError::EndUnknown))
    );
    assert_eq!(r.tell(), 5);
}

#[test]
fn seek_end_needs_a_known_end() {
    let (w, r) = channel(Options::new());
    w.try_write(b"abcdef").unwrap();
    assert_eq!(r.seek(SeekFrom::End(-1)), Err(SeekError::EndUnknown.into()));
    w.close().unwrap();
    assert_eq!(r.seek(SeekFrom::End(-2)).unwrap(), 4);
    assert_eq!(r.read_to_end().wait().unwrap(), &b"ef"[..]);
    assert_eq!(r.seek(SeekFrom::End(0)).unwrap(), 6);
    assert_eq!(
        r.seek(SeekFrom::End(1)),
        Err(SeekError::PastEnd {
            target: 7,
            written: 6
        }
        .into())
    );
    assert_eq!(
        r.seek(SeekFrom::End(-7)),
        Err(SeekError::BeforeStart {
            target: -1,
            first: 0
        }
        .into())
    );

    // The end is also known once the content length arrived, and after an abort.
    let (w, r) = channel(Options::new().content_length(3));
    w.try_write(b"xyz").unwrap();
    assert_eq!(r.seek(SeekFrom::End(-1)).unwrap(), 2);
    let (w, r) = channel(Options::new());
    w.try_write(b"xyz").unwrap();
    w.abort(py_buffer_core::AbortReason::other("gone")).unwrap();
    assert_eq!(r.seek(SeekFrom::End(-3)).unwrap(), 0);
}

#[test]
fn seek_back_makes_bytes_readable_again_for_a_waiting_read() {
    let (w, r) = channel(Options::new());
    w.try_write(b"abc").unwrap();
    assert_eq!(r.read(3).wait().unwrap(), &b"abc"[..]);
    let mut op = r.read1(8);
    assert!((&mut op).now_or_never().is_none());
    r.seek(SeekFrom::Start(1)).unwrap();
    assert_eq!(op.now_or_never().unwrap().unwrap(), &b"bc"[..]);
}

/// Four 4 KiB blocks, kept as their own storage blocks, with a needle across each boundary.
fn split_body() -> (py_buffer_core::Writer, py_buffer_core::Reader, Vec<u8>) {
    let (w, r) = channel(Options::new());
    let mut all = Vec::new();
    for i in 0..4u8 {
        let mut block = vec![b'.'; 4096];
        block[..3].copy_from_slice(b"ry-");
        block[4093..].copy_from_slice(b"-bo");
        block[100] = b'a' + i;
        all.extend_from_slice(&block);
        w.write_bytes(Bytes::from(block)).wait().unwrap();
    }
    (w, r, all)
}

#[test]
fn find_sees_needles_split_across_blocks() {
    let (_w, r, all) = split_body();
    assert_eq!(r.find(b"-bory-", 0, None), Some(4093));
    assert_eq!(r.find(b"-bory-", 4094, None), Some(2 * 4096 - 3));
    assert_eq!(r.find(b"bor", 0, None), Some(4094));
    assert_eq!(r.find(b"d", 0, None), Some(3 * 4096 + 100));
    assert_eq!(
        r.find(b"-bory-", 0, Some(4098)),
        None,
        "needle must end before `end`"
    );
    assert_eq!(r.find(b"-bory-", 0, Some(4099)), Some(4093));
    assert_eq!(r.find(b"zz", 0, None), None);
    let naive = |needle: &[u8], from: usize| {
        all[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    for from in [0, 1, 4090, 4093, 4094, 8190, 16000] {
        assert_eq!(
            r.find(b"o-bo", from, None),
            naive(b"o-bo", from),
            "from {from}"
        );
        assert_eq!(r.find(b"-r", from, None), naive(b"-r", from));
    }
}

#[test]
fn find_is_relative_to_the_read_position() {
    let (w, r) = channel(Options::new());
    w.try_write(b"abcabcabc").unwrap();
    assert_eq!(r.find(b"c", 0, None), Some(2));
    r.read(3).wait().unwrap();
    assert_eq!(r.find(b"c", 0, None), Some(2));
    assert_eq!(r.find(b"abc", 1, None), Some(3));
    assert_eq!(r.find(b"abc", 1, Some(5)), None);
    assert_eq!(r.find(b"abc", 1, Some(6)), Some(3));
    assert_eq!(r.find(b"", 2, None), Some(2));
    assert_eq!(r.find(b"", 6, None), Some(6));
    assert_eq!(r.find(b"", 7, None), None, "start beyond the unread bytes");
    assert_eq!(r.find(b"a", 4, Some(2)), None, "start after end");
    assert_eq!(r.find(b"c", 0, Some(100)), Some(2), "end is clamped");
    assert_eq!(r.tell(), 3, "find consumes nothing");
}
