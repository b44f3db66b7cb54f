//! Sequences that once broke the model check (found by proptest or the fuzz targets), kept as
//! plain tests. Each case is what the failure printed.
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::io::SeekFrom;

use py_buffer_model::{check, Op};

fn write(data: &[u8]) -> Op {
    Op::Write {
        data: data.to_vec(),
        splits: Vec::new(),
        owned: false,
    }
}

/// Found by the proptest model test (issue 13): after a seek back in bounded mode the unread
/// bytes exceed the bound (2 > 1 here), which the check called "over the bound". Not a core
/// bug: those bytes were read once and are still held, so no memory was added, and writers
/// wait until the reader is past them again (the model agrees on every result). The check
/// now bounds the bytes never read (`py_buffer_model`, `within_the_bound`).
#[test]
fn a_seek_back_in_bounded_mode_reexposes_read_bytes_without_new_memory() {
    let ops = [
        write(b"\n"),
        Op::Read1(1),
        write(b"a"),
        Op::Seek(SeekFrom::Current(-1)),
        Op::State,
    ];
    check(None, Some(1), &ops).unwrap();
}
