//! Stopping the interpreter (`py:stop/0`, behind `py_buffer_app:stop/1`): atexit handlers
//! run and open files are flushed and closed, as when a `python` process exits.
//!
//! Order: new calls are refused (`{error, stopped}`); the workers finish what is queued and
//! exit, each dropping its thread state; then, on a fresh thread, `Py_FinalizeEx` runs
//! (atexit handlers, module teardown: buffered files are flushed). If some worker is still
//! inside Python after [`GRACE`] (code blocked in C), finalizing would pull the interpreter
//! from under it: only the atexit handlers run then, and stdio is flushed
//! (`{error, {busy, N}}`). Afterwards nothing here touches Python again: released buffer
//! objects are leaked, the interrupter and release threads do nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use pyo3::ffi;
use pyo3::prelude::*;

use crate::py::workers;

/// How long the workers get to finish their jobs.
pub const GRACE: Duration = Duration::from_secs(5);

static STOPPING: AtomicBool = AtomicBool::new(false);
static FINALIZED: AtomicBool = AtomicBool::new(false);
/// Held (shared) by helper threads while they are inside Python, and (exclusive) by the
/// finalizer while it marks the interpreter finalized: no helper enters Python during or
/// after `Py_FinalizeEx`.
static GATE: RwLock<()> = RwLock::new(());

/// Runs `f` with the GIL unless the interpreter is finalized (for the helper threads:
/// interrupter, release). `None` when it is.
pub fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    let _gate = GATE.read().unwrap_or_else(|e| e.into_inner());
    if is_finalized() {
        return None;
    }
    Some(Python::attach(f))
}

/// How stopping went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `Py_FinalizeEx` ran (or had already).
    Finalized,
    /// Workers still in Python: only the atexit handlers ran.
    Busy(usize),
    /// The interpreter never started.
    NotStarted,
}

/// True once `stop` began: calls are refused.
pub fn is_stopping() -> bool {
    STOPPING.load(Ordering::Acquire)
}

/// True when Python may no longer be entered.
pub fn is_finalized() -> bool {
    FINALIZED.load(Ordering::Acquire)
}

fn soft_exit(py: Python<'_>) -> PyResult<()> {
    py.import("atexit")?.call_method0("_run_exitfuncs")?;
    let sys = py.import("sys")?;
    for stream in ["stdout", "stderr"] {
        if let Ok(stream) = sys.getattr(stream) {
            let _ = stream.call_method0("flush");
        }
    }
    Ok(())
}

/// `threading._shutdown` (run by `Py_FinalizeEx`) waits for the thread that first imported
/// `threading` unless it is the finalizing one. When that was the thread that initialised
/// Python (the NIF's load callback, whose thread state is never resumed), mark it stopped as
/// Python does for its own main thread.
fn release_main_thread(py: Python<'_>) -> PyResult<()> {
    let threading = py.import("threading")?;
    let main = threading.getattr("_main_thread")?;
    let ident: Option<i64> = main.getattr("ident")?.extract()?;
    if ident != Some(crate::py::interpreter::init_thread()) {
        return Ok(());
    }
    let lock = main.getattr("_tstate_lock")?;
    if !lock.is_none() && lock.call_method0("locked")?.is_truthy()? {
        lock.call_method0("release")?;
        main.call_method0("_stop")?;
    }
    Ok(())
}

/// Stops the interpreter once; blocks up to [`GRACE`] (call from a dirty scheduler).
pub fn stop() -> Outcome {
    if crate::py::interpreter::state().is_err() {
        return Outcome::NotStarted;
    }
    if STOPPING.swap(true, Ordering::AcqRel) {
        // Not finalized: another stop is finalizing now, or one gave up because workers
        // were busy (it never finalizes after that). Either way the answer is `busy`, with
        // at least one (the workers may have returned since: `{busy, 0}` is not a result).
        return if is_finalized() {
            Outcome::Finalized
        } else {
            Outcome::Busy(workers::running().max(1))
        };
    }
    let busy = workers::shutdown(GRACE);
    let finalizer = std::thread::Builder::new()
        .name("py-finalize".into())
        .spawn(move || {
            // Calls queued for an app's own thread are answered `{error, stopped}` (from
            // this thread: ERTS threads may not send).
            crate::py::inbox::close_all();
            if busy > 0 {
                Python::attach(|py| {
                    let _ = soft_exit(py);
                });
                return Outcome::Busy(busy);
            }
            Python::attach(|py| {
                let _ = release_main_thread(py);
            });
            crate::py::python_face::clear();
            {
                let _gate = GATE.write().unwrap_or_else(|e| e.into_inner());
                FINALIZED.store(true, Ordering::Release);
            }
            // SAFETY: Python is initialised and no worker thread is left (each dropped its
            // thread state); this thread takes a fresh thread state and finalizes from it.
            // Nothing takes the GIL afterwards (FINALIZED is checked first everywhere).
            unsafe {
                ffi::PyGILState_Ensure();
                ffi::Py_FinalizeEx();
            }
            Outcome::Finalized
        });
    match finalizer.map(|thread| thread.join()) {
        Ok(Ok(outcome)) => outcome,
        _ => Outcome::Busy(busy),
    }
}
