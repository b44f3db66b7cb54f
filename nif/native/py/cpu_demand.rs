//! How much CPU a set of threads wanted over a while: the time they spent on a CPU plus the
//! time they waited, runnable, for one (Linux's `/proc/thread-self/schedstat`).
//!
//! The shared pool's watcher measures its workers with it before adding one. Python's
//! threads run one at a time (the GIL), so workers that want about one CPU between them are
//! calls waiting for the GIL, and another thread would only contend for it; workers that
//! want much less are blocked (in a read, a sleep, a database query), and the GIL is free
//! for one more. Waiting for a CPU counts as wanting it, so a machine too busy to run the
//! workers does not pass for blocked workers. A thread whose figures cannot be read counts
//! as wanting none, so the pool still grows.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One thread's clocks, taken by the thread itself ([`Meter::of_current`]).
pub struct Meter {
    id: u64,
    /// The thread's CPU-time clock: exact at any moment (the kernel brings a running
    /// thread's figure up to date when it is read).
    cpu_clock: Option<libc::clockid_t>,
    /// Its scheduler figures, for the time spent runnable but waiting for a CPU (counted
    /// when the thread next gets one).
    schedstat: Option<File>,
}

impl Meter {
    /// The calling thread's meter.
    pub fn of_current() -> Arc<Self> {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        let mut clock: libc::clockid_t = 0;
        // SAFETY: pthread_self() is the calling, live thread and `clock` is a valid place
        // for the result.
        let found = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } == 0;
        let schedstat = File::open("/proc/thread-self/schedstat").ok();
        Arc::new(Self {
            id,
            cpu_clock: found.then_some(clock),
            schedstat,
        })
    }

    /// Nanoseconds the thread has spent on a CPU and waiting for one, so far (0 for what
    /// cannot be read).
    fn wanted_ns(&self) -> u64 {
        self.cpu_ns().unwrap_or(0) + self.waited_ns().unwrap_or(0)
    }

    fn cpu_ns(&self) -> Option<u64> {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid place for the result; a clock of a thread that has exited
        // makes the call fail (EINVAL), not misbehave.
        let read = unsafe { libc::clock_gettime(self.cpu_clock?, &mut now) } == 0;
        read.then(|| now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64)
    }

    fn waited_ns(&self) -> Option<u64> {
        // "RUN_NS WAIT_NS SLICES\n", regenerated at each read from offset 0.
        let mut text = [0u8; 96];
        let n = self.schedstat.as_ref()?.read_at(&mut text, 0).ok()?;
        std::str::from_utf8(&text[..n])
            .ok()?
            .split_ascii_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

/// The CPUs' worth a changing set of threads wanted over windows of time.
#[derive(Default)]
pub struct Demand {
    /// When the current window began, with each thread's figure then.
    window: Option<(Instant, HashMap<u64, u64>)>,
    last_look: Option<Instant>,
}

impl Demand {
    /// Looks at the threads of `meters`: once `window` has passed since the current window
    /// began, the CPUs they wanted over it (1.0: one CPU all along), counting only threads
    /// there at both ends, and a new window begins. A look more than `gap` after the
    /// previous one (the watcher slept) also begins a new window: a figure that spans the
    /// sleep would say nothing of now.
    pub fn look(&mut self, meters: &[Arc<Meter>], window: Duration, gap: Duration) -> Option<f64> {
        let now = Instant::now();
        let resumed = self.last_look.is_none_or(|last| now - last > gap);
        self.last_look = Some(now);
        match &self.window {
            Some((began, _)) if !resumed && now - *began < window => return None,
            Some(_) if !resumed => {}
            _ => {
                self.window = Some((now, figures(meters)));
                return None;
            }
        }
        let after = figures(meters);
        let (began, before) = self.window.take()?;
        let wanted: u64 = after
            .iter()
            .filter_map(|(id, &ns)| Some(ns.saturating_sub(*before.get(id)?)))
            .sum();
        self.window = Some((now, after));
        Some(wanted as f64 / (now - began).as_nanos().max(1) as f64)
    }
}

fn figures(meters: &[Arc<Meter>]) -> HashMap<u64, u64> {
    meters
        .iter()
        .map(|meter| (meter.id, meter.wanted_ns()))
        .collect()
}
