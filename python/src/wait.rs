//! Waiting for the buffer with the GIL released, without going deaf to Ctrl-C or a timeout.
//!
//! Every blocking method first tries with the GIL held (the fast path: data already there costs
//! no GIL round trip). Only when it must wait does it call [`park`], which releases the GIL
//! and waits on the core's listener (polling briefly first, `py_buffer_core::spin`). On the
//! main thread the wait is cut into slices so that pending signal handlers run between them
//! (Ctrl-C raises `KeyboardInterrupt` within one slice); elsewhere it waits in one piece until
//! the state changes or the deadline passes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use py_buffer_core::{wake_trace, Attempt, Op};
use pyo3::prelude::*;

use crate::errors::timed_out;

/// How long a main-thread wait sleeps before it checks for signals.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// The interpreter's main thread (`threading.main_thread().ident`), 0 until known.
static MAIN_THREAD: AtomicU64 = AtomicU64::new(0);

/// Records which thread is the main one; called when the module is initialised.
///
/// A child process forked from another thread has that thread as its main thread (CPython
/// moves its own record there, and only the main thread runs signal handlers), so an
/// `os.register_at_fork(after_in_child=...)` hook records it again: without it, a read in such
/// a child waited in one piece and never ran the `SIGINT` handler.
pub fn init_main_thread(py: Python<'_>) -> PyResult<()> {
    let ident: u64 = py
        .import("threading")?
        .call_method0("main_thread")?
        .getattr("ident")?
        .extract()?;
    MAIN_THREAD.store(ident, Ordering::Relaxed);
    let os = py.import("os")?;
    if os.hasattr("register_at_fork")? {
        let hook = pyo3::types::PyCFunction::new_closure(
            py,
            Some(c"_py_buffer_after_fork_in_child"),
            None,
            |_args, _kwargs| MAIN_THREAD.store(current_thread(), Ordering::Relaxed),
        )?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("after_in_child", hook)?;
        os.call_method("register_at_fork", (), Some(&kwargs))?;
    }
    Ok(())
}

/// The calling thread's id, as `threading.get_ident()` gives it.
fn current_thread() -> u64 {
    // SAFETY: `PyThread_get_thread_ident` only reads the calling thread's id; it needs no
    // interpreter state and is safe to call from any thread.
    let raw = unsafe { pyo3::ffi::PyThread_get_thread_ident() };
    #[allow(
        clippy::useless_conversion,
        reason = "c_ulong is 32 bits on some platforms"
    )]
    u64::from(raw)
}

fn on_main_thread() -> bool {
    current_thread() == MAIN_THREAD.load(Ordering::Relaxed)
}

/// A deadline `timeout` from now (`None`: wait forever).
pub fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future))
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// Waits for `op` with the GIL released, until it completes, `deadline` passes
/// (`TimeoutError`, naming `what`), or a signal handler raises (on the main thread).
///
/// The operation is resumable: a timed-out slice loses nothing, and the same `op` is waited
/// on again.
pub fn park<K>(
    py: Python<'_>,
    op: &mut Op<K>,
    deadline: Option<Instant>,
    what: &str,
) -> PyResult<K::Output>
where
    K: Attempt + Send,
    K::Output: Send,
{
    loop {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            // One last look: the state may have changed just as the deadline passed.
            if let Some(out) = op.try_now() {
                return Ok(out);
            }
            return Err(timed_out(what));
        }
        let slice_end = if on_main_thread() {
            let end = now + SIGNAL_SLICE;
            Some(deadline.map_or(end, |d| d.min(end)))
        } else {
            deadline
        };
        // The core's wait polls briefly before it sleeps (`py_buffer_core::spin`).
        if let Some(out) = py.detach(|| op.wait_deadline(slice_end)) {
            wake_trace::mark(wake_trace::Point::GilBack);
            return Ok(out);
        }
        py.check_signals()?;
    }
}
