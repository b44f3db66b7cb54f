//! Repeated exports (`Reader::snapshot`, Python's `memoryview(buf)`) alternating with writes
//! copy only the bytes written since the previous export: the merged snapshots share one
//! growing arena, so the next snapshot starts at the same address as the previous one, and
//! only a logarithmic number of rounds move to a new arena (amortised O(new bytes); before,
//! every export re-merged every unread byte: quadratic).
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use py_buffer_core::{channel, Options};

fn rounds(options: Options, rounds: usize, chunk: usize) -> usize {
    let (w, r) = channel(options);
    let mut expected = Vec::new();
    let mut moves = 0;
    let mut previous: Option<bytes::Bytes> = None;
    for round in 0..rounds {
        let piece: Vec<u8> = (0..chunk).map(|i| (i + round) as u8).collect();
        w.try_write(&piece).unwrap();
        expected.extend_from_slice(&piece);
        let snap = r.snapshot();
        assert_eq!(&snap[..], &expected[..], "round {round}");
        if let Some(prev) = &previous {
            assert_eq!(&prev[..], &expected[..prev.len()], "an export changed");
            if prev.as_ptr() != snap.as_ptr() {
                moves += 1;
            }
        }
        previous = Some(snap);
    }
    moves
}

#[test]
fn alternating_writes_and_exports_reuse_the_merged_memory() {
    // 200 rounds of 64 KiB: a copy of everything each round would move every time.
    let moves = rounds(Options::new(), 200, 64 * 1024);
    assert!(
        moves <= 10,
        "{moves} of 200 exports re-copied the earlier bytes"
    );
}

#[test]
fn small_pieces_too() {
    let moves = rounds(Options::new(), 1000, 100);
    assert!(
        moves <= 12,
        "{moves} of 1000 exports re-copied the earlier bytes"
    );
}

#[test]
fn bounded_mode_exports_stay_correct_as_the_reader_moves() {
    let (w, r) = channel(Options::new().max_buffered(200 * 1024));
    let mut unread = std::collections::VecDeque::new();
    for round in 0..300usize {
        let piece: Vec<u8> = (0..1000).map(|i| (i * 7 + round) as u8).collect();
        assert_eq!(w.try_write(&piece).unwrap(), piece.len());
        unread.extend(piece);
        let snap = r.snapshot();
        assert!(snap.iter().eq(unread.iter()), "round {round}");
        let take = (round * 13) % 1500;
        let got = r.read_nonblock(take).unwrap();
        let want: Vec<u8> = unread.drain(..got.len()).collect();
        assert_eq!(&got[..], &want[..]);
    }
}
