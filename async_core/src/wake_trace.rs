//! Timestamps along the wake-up path, for `make bench-wake-trace` only (cargo feature
//! `wake-trace`; without it every [`mark`] is an empty inline function).
//!
//! Issue 12 asked where an Erlang → Python wake-up's microseconds go: the NIF write, the
//! notify, the kernel's wake-up, the GIL, Python. Each point keeps the wall-clock time
//! (`CLOCK_REALTIME`, the clock of Erlang's `os:system_time/1` and Python's `time.time_ns()`)
//! of its first [`CAPACITY`] passes; the benchmark pairs them with its own stamps by time.

/// A point on the wake-up path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The write NIF was entered.
    WriteEntered = 0,
    /// The writer is about to wake blocked threads (every lock released).
    Notify = 1,
    /// A blocked thread's condition-variable wait returned.
    WaitReturned = 2,
    /// A woken thread's try succeeded; it leaves the core's wait.
    TryDone = 3,
    /// The Python reader holds the GIL again.
    GilBack = 4,
    /// The Python reader made its `bytes`.
    BytesMade = 5,
    /// The Python reader's method returns its result to the interpreter.
    Returned = 6,
}

/// How many points there are.
pub const POINTS: usize = 7;
/// How many passes of each point are kept.
pub const CAPACITY: usize = 4096;

#[cfg(feature = "wake-trace")]
mod enabled {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use super::{Point, CAPACITY, POINTS};

    static STAMPS: [[AtomicU64; CAPACITY]; POINTS] =
        [const { [const { AtomicU64::new(0) }; CAPACITY] }; POINTS];
    static COUNTS: [AtomicUsize; POINTS] = [const { AtomicUsize::new(0) }; POINTS];

    pub fn mark(point: Point) {
        let ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let i = COUNTS[point as usize].fetch_add(1, Ordering::Relaxed);
        if let Some(slot) = STAMPS[point as usize].get(i) {
            slot.store(ns, Ordering::Relaxed);
        }
    }

    pub fn take() -> Vec<Vec<u64>> {
        (0..POINTS)
            .map(|p| {
                let n = COUNTS[p].swap(0, Ordering::Relaxed).min(CAPACITY);
                STAMPS[p][..n]
                    .iter()
                    .map(|s| s.load(Ordering::Relaxed))
                    .collect()
            })
            .collect()
    }
}

/// Records that `point` was passed now.
#[cfg(feature = "wake-trace")]
#[inline(never)]
pub fn mark(point: Point) {
    enabled::mark(point);
}

/// Records nothing (the `wake-trace` feature is off).
#[cfg(not(feature = "wake-trace"))]
#[inline(always)]
pub fn mark(_point: Point) {}

/// The times recorded per point (nanoseconds since the epoch), oldest first, and forgets
/// them; empty lists without the `wake-trace` feature.
pub fn take() -> Vec<Vec<u64>> {
    #[cfg(feature = "wake-trace")]
    {
        enabled::take()
    }
    #[cfg(not(feature = "wake-trace"))]
    {
        vec![Vec::new(); POINTS]
    }
}
