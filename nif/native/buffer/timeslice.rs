//! Reduction accounting for NIF work, so a process calling our NIFs in a loop is preempted as
//! often as one running Erlang code (a timeslice is about 1 ms).
//!
//! The BEAM counts one reduction per NIF call whatever it costs; a loop of 300 ns writes would
//! hold a normal scheduler for milliseconds. Each call charges its estimated cost here; the
//! debt is kept per scheduler thread and paid with `enif_consume_timeslice` in whole
//! percents (10 µs each), so cheap calls cost one thread-local addition.

use std::cell::Cell;

use rustler::Env;

/// Nanoseconds one percent of a timeslice stands for.
const PERCENT_NS: u32 = 10_000;

/// Estimated cost of copying, in bytes per nanosecond (fresh pages copy at 1–2 GB/s here).
const COPY_BYTES_PER_NS: usize = 2;

thread_local! {
    static DEBT_NS: Cell<u32> = const { Cell::new(0) };
}

/// The estimated cost of a call that took `base_ns` plus copying `copied` bytes.
pub fn cost(base_ns: u32, copied: usize) -> u32 {
    let copy_ns = u32::try_from(copied / COPY_BYTES_PER_NS).unwrap_or(u32::MAX);
    base_ns.saturating_add(copy_ns)
}

/// Charges `ns` to the calling process (a NIF call on a normal scheduler).
pub fn charge(env: Env<'_>, ns: u32) {
    let debt = DEBT_NS.with(Cell::get).saturating_add(ns);
    if debt < PERCENT_NS {
        DEBT_NS.with(|d| d.set(debt));
        return;
    }
    let percent = (debt / PERCENT_NS).min(100);
    DEBT_NS.with(|d| d.set(debt - percent * PERCENT_NS));
    // The result (timeslice exhausted) matters only to NIFs that reschedule themselves.
    let _ = rustler::schedule::consume_timeslice(env, percent as i32);
}
