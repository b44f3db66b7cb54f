//! Interrupting timed-out Python code: `TimeoutError` raised asynchronously in the thread
//! running a cancelled job (`PyThreadState_SetAsyncExc`).
//!
//! `py_cancel/1` runs on a scheduler, which must never wait for the GIL, so it hands the
//! ticket to one interrupter thread. That thread takes the GIL, checks that the ticket's job
//! still runs (workers record start and finish under the GIL, so the check cannot race the
//! job's end) and sets the exception. Code running bytecode sees it within one eval-loop
//! step; code blocked in C (a `time.sleep`, a blocking read) sees it when it returns. A worker
//! clears any exception still pending after its job ([`clear_pending`]), so it never hits
//! the next job.
//!
//! An exception raised between two steps of code that keeps state shared by every thread
//! breaks that state for all of them: one landing in the import system's module locks left a
//! lock held or its waiters unwoken, and every later importer of that module hung (or got
//! `KeyError`). So an interrupt is only set while the thread is in no import (no frame of
//! the import system on its stack, [`IMPORT_SYSTEM`]: a module's body is never cut short
//! either, which would run it twice) and its innermost frame is outside the standard
//! library (`threading`, `queue`, `logging` and the rest are not written for exceptions
//! between any two bytecodes). It lands where it is set: a thread parked for the GIL
//! resumes in that frame, and a C call returns into it. Otherwise it is deferred and tried
//! again (every 2 ms, backing off to 100 ms) until the thread leaves that code or its job
//! ends.

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFrozenSet};
use rustler::ResourceArc;

use crate::py::ticket::Ticket;

/// How long a deferred interrupt first waits before it is tried again; each try that
/// interrupts nothing doubles the wait, up to [`RETRY_MAX`] (a job blocked for good in
/// standard-library code costs a GIL hand-over ten times a second, not two hundred).
const RETRY_FIRST: Duration = Duration::from_millis(2);
/// The longest wait between two tries of deferred interrupts.
const RETRY_MAX: Duration = Duration::from_millis(100);

/// The import system's modules, by the top-level part of the `__name__` their frames see:
/// the frozen bootstrap modules are `importlib._bootstrap(_external)` on 3.11 but
/// `_frozen_importlib(_external)` on 3.10, 3.12 and 3.13.
const IMPORT_SYSTEM: [&str; 3] = [
    "importlib",
    "_frozen_importlib",
    "_frozen_importlib_external",
];

static INTERRUPTER: LazyLock<Option<Mutex<Sender<ResourceArc<Ticket>>>>> = LazyLock::new(|| {
    let (sender, receiver) = channel::<ResourceArc<Ticket>>();
    std::thread::Builder::new()
        .name("py-interrupt".into())
        .spawn(move || interrupter(receiver))
        .ok()?;
    Some(Mutex::new(sender))
});

/// The interrupter thread: takes tickets, interrupts their threads where it is safe, and
/// tries the others again later until each is done.
fn interrupter(receiver: Receiver<ResourceArc<Ticket>>) {
    let mut deferred: Vec<ResourceArc<Ticket>> = Vec::new();
    let mut retry = RETRY_FIRST;
    loop {
        let received = if deferred.is_empty() {
            receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            receiver.recv_timeout(retry)
        };
        match received {
            Ok(ticket) => {
                deferred.push(ticket);
                retry = RETRY_FIRST;
            }
            Err(RecvTimeoutError::Timeout) => retry = (retry * 2).min(RETRY_MAX),
            Err(RecvTimeoutError::Disconnected) => return,
        }
        deferred.extend(receiver.try_iter());
        let tried = crate::py::finalize::with_python(|py| {
            // Frames that cannot be read mean no deferral: interrupted as before, never
            // deferred forever.
            let threads = Threads::now(py).ok();
            deferred.retain(|ticket| !try_interrupt(py, threads.as_ref(), ticket));
        });
        if tried.is_none() {
            deferred.clear();
        }
    }
}

/// Interrupts `ticket`'s thread unless that is unsafe now; true when nothing is left to do
/// (interrupted, or the job already ended).
fn try_interrupt(_py: Python<'_>, threads: Option<&Threads<'_>>, ticket: &Ticket) -> bool {
    let Some(thread) = ticket.running_thread() else {
        return true;
    };
    if let Some(threads) = threads {
        if threads.is_unsafe_to_interrupt(thread).unwrap_or(false) {
            return false;
        }
    }
    // SAFETY: the GIL is held (the `Python` token); PyExc_TimeoutError is a static type
    // object (the call takes a new reference of its own).
    unsafe { ffi::PyThreadState_SetAsyncExc(thread, ffi::PyExc_TimeoutError) };
    true
}

/// What one round of tries reads once: every thread's innermost frame and the standard
/// library's module names.
struct Threads<'py> {
    /// `sys._current_frames()`: each thread's innermost frame, by thread id.
    frames: Bound<'py, PyDict>,
    /// `sys.stdlib_module_names` (3.10+): the standard library's top-level module names.
    stdlib: Bound<'py, PyFrozenSet>,
}

impl<'py> Threads<'py> {
    fn now(py: Python<'py>) -> PyResult<Self> {
        let sys = py.import("sys")?;
        Ok(Threads {
            frames: sys.call_method0("_current_frames")?.cast_into::<PyDict>()?,
            stdlib: sys
                .getattr("stdlib_module_names")?
                .cast_into::<PyFrozenSet>()?,
        })
    }

    /// True while `thread` is importing, or its innermost frame is standard-library code.
    fn is_unsafe_to_interrupt(&self, thread: libc::c_long) -> PyResult<bool> {
        // Thread ids are `pthread_self()` values, unsigned in Python.
        let Some(mut frame) = self.frames.get_item(thread as libc::c_ulong)? else {
            return Ok(false);
        };
        let mut innermost = true;
        while !frame.is_none() {
            let name = frame.getattr("f_globals")?.get_item("__name__").ok();
            if let Some(name) = name.and_then(|n| n.extract::<String>().ok()) {
                let top = name.split('.').next().unwrap_or_default();
                if IMPORT_SYSTEM.contains(&top) || (innermost && self.stdlib.contains(top)?) {
                    return Ok(true);
                }
            }
            innermost = false;
            frame = frame.getattr("f_back")?;
        }
        Ok(false)
    }
}

/// The id CPython gives the current thread (`threading.get_ident()`).
pub fn current_thread() -> libc::c_long {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as libc::c_long }
}

/// Asks for `TimeoutError` in the thread running `ticket`'s job. Never blocks.
pub fn request(ticket: ResourceArc<Ticket>) {
    if let Some(sender) = INTERRUPTER.as_ref() {
        let _ = sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(ticket);
    }
}

/// Drops an asynchronous exception still pending for the current thread.
pub fn clear_pending(_py: Python<'_>) {
    // SAFETY: the GIL is held (the `Python` token); a NULL exception clears the pending one.
    unsafe { ffi::PyThreadState_SetAsyncExc(current_thread(), std::ptr::null_mut()) };
}
