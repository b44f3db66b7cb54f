//! A short scheduling slice for the Python worker threads, so a wake-up from Erlang runs them
//! at once rather than after the scheduler thread that woke them.
//!
//! A worker mostly sleeps: waiting for its next job, or blocked in a read of a body an Erlang
//! process writes. The write wakes it from a scheduler thread, and Linux usually queues the
//! worker on that thread's CPU; with the default slice the worker then waits until the
//! scheduler thread gives the CPU up (5–10 µs on a 2-vCPU VM, `docs/benchmarks.md`, "Wake
//! latency, third round"). Linux 6.12 and later (EEVDF) let a thread ask for a shorter slice
//! (`sched_setattr` with `sched_runtime`, 0.1–100 ms, for `SCHED_OTHER`), and a woken thread
//! with a shorter slice than the running one goes first (the scheduler's `PREEMPT_SHORT`).
//! Its share of the CPU is unchanged; under contention it runs in shorter turns. Threads that
//! Python code starts from a worker inherit the slice, as Linux passes scheduling attributes
//! on to new threads. Older kernels accept the call and ignore the field; other systems are
//! not asked.
//!
//! The slice is `worker_slice_us` of the load info, else `$PY_BUFFER_WORKER_SLICE_US`, else
//! [`DEFAULT_SLICE_US`]; 0 leaves the kernel's default. A thread running under a real-time or
//! `SCHED_IDLE` policy is left as it is, and so is its nice value.

/// The worker threads' slice unless configured (the kernel's lower bound).
pub const DEFAULT_SLICE_US: u64 = 100;

/// Asks the kernel to run the calling thread in slices of `micros` (0: nothing is asked).
/// A refusal (an old kernel's `ENOSYS`, a sandbox's `EPERM`) leaves the thread as it was:
/// the slice is a latency hint, never needed for correctness.
pub fn request(micros: u64) {
    if micros > 0 {
        #[cfg(target_os = "linux")]
        linux::request(micros);
    }
}

#[cfg(target_os = "linux")]
mod linux {
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

    pub(super) fn request(micros: u64) {
        let mut attr = SchedAttr::default();
        let size = std::mem::size_of::<SchedAttr>() as u32;
        // SAFETY: `attr` is a live, writable `sched_attr` of `size` bytes; pid 0 is the
        // calling thread; the kernel writes at most `size` bytes.
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
            return;
        }
        attr.size = size;
        attr.flags &= SCHED_FLAG_RESET_ON_FORK;
        attr.runtime = micros.saturating_mul(1000);
        // SAFETY: `attr` is an initialised `sched_attr` of `size` bytes, only read by the
        // kernel; pid 0 is the calling thread.
        let _ = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    }
}
