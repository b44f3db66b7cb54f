//! A short scheduling slice for a thread while it sleeps in a wait of this crate, so that the
//! change that wakes it runs it at once instead of after the waking thread's turn.
//!
//! A thread blocked in a read is woken by the writer's thread, and Linux usually queues it on
//! the writer's CPU (the other CPUs of a small VM are halted, and waking one costs tens of
//! microseconds more). With the kernel's default slice (0.7 ms times 1 + log2 of the CPUs)
//! the woken thread then waits until the writer's thread gives the CPU up. Linux 6.12 and
//! later (EEVDF) let a thread ask for a shorter slice (`sched_setattr` with `sched_runtime`,
//! 0.1–100 ms, for `SCHED_OTHER`), and a woken thread with a shorter slice than the running
//! one goes first (the scheduler's `PREEMPT_SHORT`): an Erlang → Python wake-up's kernel step
//! went from 10–13 µs to 5–6 µs (`docs/benchmarks.md`, "Wake latency, third round").
//!
//! Only while asleep: with the short slice kept all the time, `py:call` round trips got slower
//! (a worker woken for a job preempts the scheduler thread that is about to take its reply).
//! So the slice is shortened just before a sleep and given back at the next poll
//! ([`restore`], called by `crate::spin::poll`), each a system call pair made only when the
//! state changes, never on the path from the wake-up to the data.
//!
//! Opt-in per thread ([`while_asleep`]): threads the caller owns (the NIF's Python workers),
//! never a library user's threads by default. Older kernels accept the call and ignore the
//! field; other systems are not asked; a refusal (a sandbox's `EPERM`) leaves the thread as it
//! was. A thread under a real-time or `SCHED_IDLE` policy is left alone, and so is its nice
//! value.

#[cfg(not(loom))]
use std::cell::Cell;

#[cfg(not(loom))]
thread_local! {
    /// The slice this thread asked for while asleep, in microseconds (0: none).
    static WANTED_US: Cell<u64> = const { Cell::new(0) };
    /// Whether the thread runs with that slice now.
    static SHORT: Cell<bool> = const { Cell::new(false) };
}

/// From now on the calling thread runs with a `micros` slice whenever it sleeps in a wait of
/// this crate (0: never, the default; the kernel's lower bound is 100).
pub fn while_asleep(micros: u64) {
    #[cfg(not(loom))]
    {
        restore();
        WANTED_US.with(|w| w.set(micros));
    }
    #[cfg(loom)]
    let _ = micros;
}

/// Shortens the calling thread's slice, if it asked for that, before it sleeps.
pub(crate) fn shorten() {
    #[cfg(not(loom))]
    {
        let wanted = WANTED_US.with(Cell::get);
        if wanted > 0 && !SHORT.with(Cell::get) && set_slice_ns(wanted.saturating_mul(1000)) {
            SHORT.with(|s| s.set(true));
        }
    }
}

/// Gives the calling thread its default slice back if a sleep shortened it: call before
/// polling (yielding) or waiting for other work.
pub fn restore() {
    #[cfg(not(loom))]
    if SHORT.with(Cell::get) {
        set_slice_ns(0);
        SHORT.with(|s| s.set(false));
    }
}

/// Sets the calling thread's slice (0: the kernel's default); false if it was not set.
#[cfg(all(target_os = "linux", not(loom)))]
fn set_slice_ns(ns: u64) -> bool {
    /// `struct sched_attr` of `sched_setattr(2)`, its first version (48 bytes: no utilisation
    /// clamps, which are then left as they are).
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;
    /// The one flag carried over from the thread's current attributes.
    const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

    let mut attr = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a live, writable `sched_attr` of `size` bytes; pid 0 is the calling
    // thread; the kernel writes at most `size` bytes.
    let got = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            size,
            0,
        )
    };
    if got != 0 || !(attr.policy == SCHED_OTHER || attr.policy == SCHED_BATCH) {
        return false;
    }
    attr.size = size;
    attr.flags &= SCHED_FLAG_RESET_ON_FORK;
    attr.runtime = ns;
    // SAFETY: `attr` is an initialised `sched_attr` of `size` bytes, only read by the kernel;
    // pid 0 is the calling thread.
    unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) == 0 }
}

#[cfg(all(not(target_os = "linux"), not(loom)))]
fn set_slice_ns(_ns: u64) -> bool {
    false
}

#[cfg(all(test, not(loom), target_os = "linux"))]
mod tests {
    use super::*;

    /// The calling thread's slice as the kernel shows it (Linux 6.6 and later), if it does.
    fn shown_slice_ns() -> Option<u64> {
        let sched = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
        let line = sched.lines().find(|l| l.starts_with("se.slice"))?;
        line.split(':').nth(1)?.trim().parse().ok()
    }

    /// Whether this kernel honours a requested slice (Linux 6.12 and later).
    fn honoured() -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (6, 12)
    }

    #[test]
    fn the_slice_is_short_only_between_a_sleep_and_the_next_restore() {
        std::thread::spawn(|| {
            let default = shown_slice_ns();
            shorten();
            assert_eq!(
                shown_slice_ns(),
                default,
                "a thread that did not opt in is left alone"
            );
            while_asleep(250);
            shorten();
            let short = if honoured() { Some(250_000) } else { default };
            assert_eq!(shown_slice_ns(), short);
            restore();
            assert_eq!(shown_slice_ns(), default);
            restore();
            assert_eq!(shown_slice_ns(), default);
            while_asleep(0);
            shorten();
            assert_eq!(shown_slice_ns(), default);
        })
        .join()
        .unwrap();
    }
}
