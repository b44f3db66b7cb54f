//! Model test: random operation sequences run against the buffer and against the reference
//! model (`py-buffer-model`, shared with the fuzz targets in `fuzz/`), which must agree on
//! every result — bytes, errors, waits, positions and search hits.
//!
//! Covers writes with random splits (`try_write`, `try_write_bytes` of large owned blocks),
//! every read kind, seeks, finds, peeks, snapshots, close/abort/reader-close, several reader
//! and writer handles made and dropped at random points (the last writer dropped unclosed
//! aborts, the last reader dropped closes the reading side), with and without a content
//! length, with and without `max_buffered` (where the writer's `try_write` accepts partial
//! counts). In bounded mode a read that must wait while the bound is full sets the unread
//! bytes aside (they stop counting against the bound), so reads larger than the bound
//! complete across later writes.
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::io::SeekFrom;

use proptest::prelude::*;
use py_buffer_model::{check, Op};

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n'), Just(b'-')]
}

fn small() -> impl Strategy<Value = usize> {
    prop_oneof![0..8usize, 0..40usize, Just(usize::MAX)]
}

fn op() -> impl Strategy<Value = Op> {
    let data = prop_oneof![
        4 => prop::collection::vec(byte(), 0..24),
        1 => (4096usize..50_000, byte()).prop_map(|(n, b)| {
            let mut v = vec![b'a'; n];
            v[n / 2] = b;
            v[n - 1] = b'\n';
            v
        }),
    ];
    let write = (
        data,
        prop::collection::vec(any::<usize>(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(data, splits, owned)| Op::Write {
            data,
            splits,
            owned,
        });
    let limit = prop::option::of(0..30usize);
    let seek = prop_oneof![
        (0u64..80).prop_map(SeekFrom::Start),
        (-40i64..40).prop_map(SeekFrom::Current),
        (-60i64..5).prop_map(SeekFrom::End),
    ];
    prop_oneof![
        6 => write,
        2 => small().prop_map(Op::Read),
        1 => Just(Op::ReadToEnd),
        2 => small().prop_map(Op::Read1),
        2 => prop_oneof![0..40usize, 16_000..70_000usize].prop_map(Op::ReadInto),
        2 => limit.clone().prop_map(Op::Readline),
        1 => (byte(), limit.clone()).prop_map(|(d, l)| Op::ReadUntil(d, l)),
        1 => prop::option::of(prop_oneof![0..30usize, Just(usize::MAX)]).prop_map(Op::Readlines),
        1 => small().prop_map(Op::ReadNonblock),
        1 => small().prop_map(Op::Peek),
        1 => small().prop_map(Op::Fill),
        1 => small().prop_map(Op::Consume),
        2 => seek.prop_map(Op::Seek),
        2 => (prop::collection::vec(byte(), 0..4), 0..30usize, prop::option::of(0..40usize))
            .prop_map(|(n, s, e)| Op::Find(n, s, e)),
        1 => Just(Op::Snapshot),
        1 => Just(Op::State),
        1 => Just(Op::Close),
        1 => Just(Op::Abort),
        1 => Just(Op::ReaderClose),
        1 => any::<usize>().prop_map(Op::DropWriter),
        1 => any::<usize>().prop_map(Op::DropReader),
        1 => Just(Op::NewWriter),
        1 => Just(Op::NewReader),
        1 => any::<usize>().prop_map(Op::Switch),
    ]
}

fn options() -> impl Strategy<Value = (Option<usize>, Option<usize>)> {
    let cl = prop::option::of(prop_oneof![0..60usize, 0..40_000usize, 0..200_000usize]);
    let max = prop::option::of(prop_oneof![
        1..40usize,
        4096..10_000usize,
        16_000..70_000usize
    ]);
    (cl, max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn buffer_matches_the_model(
        (content_length, max_buffered) in options(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        if let Err(disagreement) = check(content_length, max_buffered, &ops) {
            return Err(TestCaseError::fail(disagreement));
        }
    }
}
