//! Polling before sleeping: for how long, and how, a thread that must wait polls first.
//!
//! Sleeping and being woken costs 10–30 µs on a small VM (the wake-up of a halted vCPU is an
//! inter-processor interrupt through the hypervisor), while a reply from a thread running on
//! another CPU often comes within a few microseconds: a `py:call` round trip took 3–6 µs with
//! polling and 16 µs without (docs/benchmarks.md, "Wake latency, third round").
//!
//! Polls never yield the CPU. Under Linux's EEVDF scheduler a thread that calls `sched_yield`
//! while another thread is runnable on its CPU gets the CPU back only after that thread's
//! whole slice (1.4 ms on 2 CPUs, longer on more), unless it sleeps. With both Erlang
//! schedulers busy, a read that polled by yielding answered 1.4–1.7 ms after its data came
//! and a `py:call` round trip's p99 was 4 ms; polling without yielding keeps them at
//! 10–20 µs. A pure poll is bounded by its budget: a thread that shares its CPU with the
//! thread it waits for delays it by at most that much, then sleeps.

use std::time::{Duration, Instant};

/// How long a thread polls before it sleeps unless `PY_BUFFER_SPIN_US` says otherwise.
pub const DEFAULT_BUDGET_US: u64 = 10;
/// Pause instructions between two polls (each ~10–40 ns).
const PAUSES: u32 = 16;

/// The polling budget: `PY_BUFFER_SPIN_US` (microseconds; 0 disables polling), else
/// [`DEFAULT_BUDGET_US`]; zero with a single CPU, where the thread waited for cannot run
/// while this one polls.
pub fn budget() -> Duration {
    static BUDGET: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let micros = std::env::var("PY_BUFFER_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_BUDGET_US);
        if cpus > 1 {
            Duration::from_micros(micros)
        } else {
            Duration::ZERO
        }
    })
}

/// Calls `attempt` until it gives a value, for at most [`budget`] (and not past `deadline`),
/// pausing between calls without yielding the CPU; `None` if it did not. A slice shortened
/// for an earlier sleep is given back first (`crate::short_slice`).
pub fn poll<T>(deadline: Option<Instant>, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    crate::short_slice::restore();
    let budget = budget();
    if budget.is_zero() {
        return None;
    }
    let end = Instant::now() + budget;
    let end = deadline.map_or(end, |d| d.min(end));
    loop {
        if let Some(out) = attempt() {
            return Some(out);
        }
        if Instant::now() >= end {
            return None;
        }
        for _ in 0..PAUSES {
            std::hint::spin_loop();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn polls_until_the_attempt_gives_a_value() {
        let mut calls = 0;
        let got = poll(None, || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        // With one CPU there is no polling at all.
        if budget().is_zero() {
            assert_eq!((got, calls), (None, 0));
        } else {
            assert_eq!((got, calls), (Some(3), 3));
        }
    }

    #[test]
    fn gives_up_at_a_deadline_already_passed_after_one_attempt() {
        let mut calls = 0;
        let got: Option<()> = poll(Some(Instant::now()), || {
            calls += 1;
            None
        });
        assert_eq!(got, None);
        assert!(calls <= 1);
    }
}
