//! Reduction accounting for NIF work, so a process calling our NIFs in a loop is preempted as
//! often as one running Erlang code (a timeslice is about 1 ms), and the one bound on how much
//! a NIF call may copy on a normal scheduler.
//!
//! The BEAM counts one reduction per NIF call whatever it costs; a loop of 300 ns writes would
//! hold a normal scheduler for milliseconds. Each call charges what its cost, estimated from
//! measured constants, exceeds that one reduction ([`CALL_REDUCTION_NS`]); the debt is kept
//! per scheduler thread (for the small write: per buffer, [`Debt`]) and paid with
//! `enif_consume_timeslice` in whole percents (10 µs each), so cheap calls cost one addition,
//! and calls within one reduction (a write of up to ~120 bytes) cost nothing here.
//!
//! The constants were measured on this machine (`benches/erlang/copy_cost.escript`): copying
//! into fresh memory — what an unbounded buffer's new blocks and a read's new binaries are —
//! runs at 1.2–1.25 ns per byte (4000 B: 4.8 µs a call; 64 KiB: 79 µs; 256 KiB: 327 µs), where
//! the former estimate of 0.5 ns per byte charged 2–3× too little (a 4000-byte copy measured
//! 6.5 µs under load and was charged 2.3 µs).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use rustler::Env;

/// Nanoseconds one percent of a timeslice stands for (a timeslice, 100%, is ~1 ms).
const PERCENT_NS: u64 = 10_000;

/// Reductions in one percent of a timeslice (a timeslice is 4000 reductions).
const REDUCTIONS_PER_PERCENT: u64 = 40;

/// What the one reduction the BEAM counts for every NIF call stands for (250 ns): a call is
/// charged only what its estimated cost exceeds this by.
pub const CALL_REDUCTION_NS: u64 = PERCENT_NS / REDUCTIONS_PER_PERCENT;

/// Measured cost of copying into fresh memory, in picoseconds per byte (1.25 ns/byte,
/// 0.8 GB/s; see the module doc).
pub const COPY_PS_PER_BYTE: u64 = 1_250;

/// Copies of more than this many bytes run on a dirty CPU scheduler (writes into bounded
/// buffers, reads that may copy): 256 KiB cost ~330 µs at [`COPY_PS_PER_BYTE`], so no call
/// on a normal scheduler comes near a 1 ms timeslice even on a loaded machine.
pub const NORMAL_COPY_MAX: usize = 256 * 1024;

thread_local! {
    static DEBT_NS: Cell<u64> = const { Cell::new(0) };
}

/// The estimated cost, in ns, of a call that took `base_ns` plus copying `copied` bytes.
pub fn cost(base_ns: u32, copied: usize) -> u64 {
    let copied = u64::try_from(copied).unwrap_or(u64::MAX);
    let copy_ns = copied.saturating_mul(COPY_PS_PER_BYTE) / 1_000;
    u64::from(base_ns).saturating_add(copy_ns)
}

/// Charges a call that cost `ns` to the calling process (a NIF call on a normal scheduler).
pub fn charge(env: Env<'_>, ns: u64) {
    if let Some(percent) = owed(ns) {
        // The result (timeslice exhausted) matters only to NIFs that reschedule themselves.
        let _ = rustler::schedule::consume_timeslice(env, percent);
    }
}

/// A debt kept by one object (a buffer) instead of the scheduler thread: for the hottest
/// call, the small write, where the thread-local access of [`charge`] (a call to
/// `__tls_get_addr` in a `cdylib`) was a tenth of the NIF's own instructions. The debt
/// follows the buffer: whoever writes to it next pays what is carried (at most one percent,
/// 10 µs), as the next caller on the scheduler does with the thread-local debt. Updated
/// with a plain load and store, not a read-modify-write: two processes writing the same
/// buffer at once may lose one call's addition, an undercharge of a few hundred ns, never
/// more than one call's estimate per race.
#[derive(Default)]
pub struct Debt(AtomicU64);

/// [`charge`] for the small write: the raw env of the current NIF call, the debt carried by
/// the buffer written to.
#[inline]
pub fn charge_raw(env: *mut rustler::sys::ErlNifEnv, debt: &Debt, ns: u64) {
    let Some(beyond) = beyond_the_call(ns) else {
        return;
    };
    let (carried, percent) = settle(debt.0.load(Ordering::Relaxed), beyond);
    debt.0.store(carried, Ordering::Relaxed);
    if let Some(percent) = percent {
        // SAFETY: `env` is the env of the NIF call running on this scheduler (the contract
        // of the caller, `write::write_small`); `percent` is 1..=100, as the call requires.
        let _ = unsafe { rustler::sys::enif_consume_timeslice(env, percent) };
    }
}

/// Adds what `ns` exceeds [`CALL_REDUCTION_NS`] by to this scheduler's debt and takes the
/// whole percents out of it, in one thread-local access (a call within one reduction makes
/// none).
#[inline(always)]
fn owed(ns: u64) -> Option<i32> {
    let beyond = beyond_the_call(ns)?;
    DEBT_NS.with(|d| {
        let (carried, percent) = settle(d.get(), beyond);
        d.set(carried);
        percent
    })
}

/// What a call estimated at `ns` costs beyond its one reduction; `None` when nothing.
#[inline(always)]
fn beyond_the_call(ns: u64) -> Option<u64> {
    ns.checked_sub(CALL_REDUCTION_NS)
        .filter(|&beyond| beyond != 0)
}

/// A debt of `debt` ns plus `ns` more: what is carried, and the whole percents to consume.
#[inline(always)]
fn settle(debt: u64, ns: u64) -> (u64, Option<i32>) {
    let debt = debt.saturating_add(ns);
    if debt < PERCENT_NS {
        return (debt, None);
    }
    let percent = (debt / PERCENT_NS).min(100);
    // `percent` is 1..=100, so the conversion cannot fail.
    (
        debt - percent * PERCENT_NS,
        Some(i32::try_from(percent).unwrap_or(100)),
    )
}
