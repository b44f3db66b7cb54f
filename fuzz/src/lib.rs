//! Turns fuzzer bytes into a buffer configuration and an operation sequence for
//! `py_buffer_model::check`.
//!
//! Two ranges: [`Range::Small`] keeps sizes, offsets and bounds near the block and bound edges
//! (where the structure is interesting), [`Range::Full`] draws every integer from its whole
//! type — content lengths up to `u64::MAX`, bounds up to `usize::MAX`, seek offsets of any
//! `i64`/`u64`, read sizes, limits and find windows of any `usize` — for the arithmetic.

use std::io::SeekFrom;

use arbitrary::{Result, Unstructured};
use py_buffer_model::Op;

/// How large the drawn integers get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Near the interesting edges.
    Small,
    /// Anywhere in the type.
    Full,
}

/// A configuration and a sequence: `(content_length, max_buffered, ops)`.
pub type Case = (Option<usize>, Option<usize>, Vec<Op>);

/// Decodes one case; runs out of input gracefully (a shorter sequence).
pub fn decode(u: &mut Unstructured<'_>, range: Range) -> Result<Case> {
    let content_length = if u.arbitrary()? {
        Some(size(u, range, 200_000)?)
    } else {
        None
    };
    let max_buffered = if u.arbitrary()? {
        Some(match u.int_in_range(0..=2)? {
            0 => u.int_in_range(0..=40)?,
            1 => u.int_in_range(4096..=70_000)?,
            _ => size(u, range, 70_000)?,
        })
    } else {
        None
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < 200 {
        ops.push(op(u, range)?);
    }
    Ok((content_length, max_buffered, ops))
}

fn size(u: &mut Unstructured<'_>, range: Range, small_max: usize) -> Result<usize> {
    match range {
        Range::Small => u.int_in_range(0..=small_max),
        Range::Full => match u.int_in_range(0..=3)? {
            0 => u.int_in_range(0..=small_max),
            1 => Ok(usize::MAX - u.int_in_range(0..=64)?),
            _ => u.arbitrary(),
        },
    }
}

fn byte(u: &mut Unstructured<'_>) -> Result<u8> {
    Ok(*u.choose(b"ab\n-")?)
}

fn bytes(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<u8>> {
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| byte(u)).collect()
}

fn data(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    if u.ratio(1, 6)? {
        // A large write: past the copy-outside-the-lock threshold, adopted when owned.
        let n = u.int_in_range(4096..=70_000)?;
        let mut v = vec![b'a'; n];
        v[n / 2] = byte(u)?;
        v[n - 1] = b'\n';
        Ok(v)
    } else {
        bytes(u, 24)
    }
}

fn limit(u: &mut Unstructured<'_>, range: Range) -> Result<Option<usize>> {
    Ok(if u.arbitrary()? {
        Some(size(u, range, 30)?)
    } else {
        None
    })
}

fn seek(u: &mut Unstructured<'_>, range: Range) -> Result<SeekFrom> {
    Ok(match (u.int_in_range(0..=2)?, range) {
        (0, Range::Small) => SeekFrom::Start(u.int_in_range(0..=80)?),
        (1, Range::Small) => SeekFrom::Current(u.int_in_range(-40..=40)?),
        (_, Range::Small) => SeekFrom::End(u.int_in_range(-60..=5)?),
        (0, Range::Full) => SeekFrom::Start(u.arbitrary()?),
        (1, Range::Full) => SeekFrom::Current(u.arbitrary()?),
        (_, Range::Full) => SeekFrom::End(u.arbitrary()?),
    })
}

fn op(u: &mut Unstructured<'_>, range: Range) -> Result<Op> {
    Ok(match u.int_in_range(0..=24)? {
        0..=4 => Op::Write {
            data: data(u)?,
            splits: (0..u.int_in_range(0..=3)?)
                .map(|_| u.arbitrary())
                .collect::<Result<_>>()?,
            owned: u.arbitrary()?,
        },
        5 => Op::Read(size(u, range, 40)?),
        6 => Op::ReadToEnd,
        7 => Op::Read1(size(u, range, 40)?),
        // The runner allocates the destination: keep it real-sized whatever the range.
        8 => Op::ReadInto(u.int_in_range(0..=70_000)?),
        9 => Op::Readline(limit(u, range)?),
        10 => Op::ReadUntil(byte(u)?, limit(u, range)?),
        11 => Op::Readlines(limit(u, range)?),
        12 => Op::ReadNonblock(size(u, range, 40)?),
        13 => Op::Peek(size(u, range, 40)?),
        14 => Op::Fill(size(u, range, 40)?),
        15 => Op::Consume(size(u, range, 40)?),
        16 => Op::Seek(seek(u, range)?),
        17 => Op::Find(bytes(u, 3)?, size(u, range, 30)?, limit(u, range)?),
        18 => Op::Snapshot,
        19 => Op::State,
        20 => match u.int_in_range(0..=2)? {
            0 => Op::Close,
            1 => Op::Abort,
            _ => Op::ReaderClose,
        },
        21 => Op::DropWriter(u.arbitrary()?),
        22 => Op::DropReader(u.arbitrary()?),
        23 => {
            if u.arbitrary()? {
                Op::NewWriter
            } else {
                Op::NewReader
            }
        }
        _ => Op::Switch(u.arbitrary()?),
    })
}

/// Decodes and checks one input; panics (a libFuzzer crash) on any disagreement.
pub fn run(data: &[u8], range: Range) {
    let mut u = Unstructured::new(data);
    let Ok((content_length, max_buffered, ops)) = decode(&mut u, range) else {
        return;
    };
    if let Err(disagreement) = py_buffer_model::check(content_length, max_buffered, &ops) {
        panic!(
            "content_length {content_length:?}, max_buffered {max_buffered:?}, ops {ops:?}: {disagreement}"
        );
    }
}
