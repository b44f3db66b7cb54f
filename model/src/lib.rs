//! The reference model of the py_buffer core (dev-only, not published).
//!
//! A plain model of the contract (a `Vec<u8>`, a position, how the body ended, how many
//! reader and writer handles are left), written from the spec, and a runner that applies the
//! same operations to a real buffer. [`check`] runs a sequence on both and reports the first
//! disagreement — bytes, errors, waits, positions, search hits, handle-count effects.
//!
//! Two users generate the sequences: the proptest model test (`async_core/tests/model.rs`)
//! and the libFuzzer targets (`fuzz/`). Neither duplicates the model.

mod op;
mod real;
mod reference;

pub use op::{Op, Out};
pub use real::Real;
pub use reference::Model;

use py_buffer_core::{channel, Options};

/// Runs `ops` on a fresh buffer made with these options and on the model; `Err` names the
/// first operation whose result, position or invariants disagree.
pub fn check(
    content_length: Option<usize>,
    max_buffered: Option<usize>,
    ops: &[Op],
) -> Result<(), String> {
    let mut opts = Options::new();
    if let Some(cl) = content_length {
        opts = opts.content_length(cl as u64);
    }
    if let Some(max) = max_buffered {
        opts = opts.max_buffered(max);
    }
    let (w, r) = channel(opts);
    let mut real = Real::new(w, r);
    let mut model = Model::new(content_length, max_buffered);
    // The furthest read position so far: bytes before it were read once, so a seek back that
    // makes them unread again adds no memory (see `within_the_bound`).
    let mut furthest = 0;
    for (i, op) in ops.iter().enumerate() {
        // The retained window is the storage's business (block sizes); the model takes its
        // start from the buffer but checks it never cuts into unread bytes.
        let first = match real.info() {
            Some(info) => {
                let first = info.written - info.retained;
                if first > info.position {
                    return Err(format!("released unread bytes before op {i}"));
                }
                if max_buffered.is_none() && first != 0 {
                    return Err(format!("default mode released bytes before op {i}"));
                }
                first
            }
            None => 0,
        };
        let expected = model.apply(op, first);
        let actual = real.run(op)?;
        if actual != expected {
            return Err(format!(
                "op {i} {op:?}: buffer {actual:?}, model {expected:?}"
            ));
        }
        match real.info() {
            Some(info) if info.position != model.pos() as u64 => {
                return Err(format!("position after op {i} {op:?}"));
            }
            Some(info) => {
                furthest = furthest.max(info.position);
                if !within_the_bound(&info, furthest) {
                    return Err(format!("over the bound after op {i} {op:?}: {info:?}"));
                }
            }
            None if model.alive() => return Err(format!("no handle left after op {i}")),
            None => {}
        }
    }
    real.check_snapshots()
}

/// Bounded mode holds at most `max_buffered` bytes that were never read, not counting bytes set
/// aside for a read larger than the bound. (Unread bytes can exceed the bound after a seek
/// back: those were read once and are still held, so the seek adds no memory; writers then
/// wait until the reader is past them again.)
fn within_the_bound(info: &py_buffer_core::Info, furthest: u64) -> bool {
    match info.max_buffered {
        Some(max) => {
            let uncounted_to = furthest.max(info.position + info.set_aside);
            info.written.saturating_sub(uncounted_to) <= max as u64
        }
        None => true,
    }
}
