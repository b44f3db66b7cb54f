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

use std::sync::mpsc::{channel, Sender};
use std::sync::{LazyLock, Mutex};

use pyo3::ffi;
use pyo3::prelude::*;
use rustler::ResourceArc;

use crate::py::ticket::Ticket;

static INTERRUPTER: LazyLock<Option<Mutex<Sender<ResourceArc<Ticket>>>>> = LazyLock::new(|| {
    let (sender, receiver) = channel::<ResourceArc<Ticket>>();
    std::thread::Builder::new()
        .name("py-interrupt".into())
        .spawn(move || {
            for ticket in receiver {
                crate::py::finalize::with_python(|_py| {
                    if let Some(thread) = ticket.running_thread() {
                        // SAFETY: the GIL is held; PyExc_TimeoutError is a static type object
                        // (the call takes a new reference of its own).
                        unsafe { ffi::PyThreadState_SetAsyncExc(thread, ffi::PyExc_TimeoutError) };
                    }
                });
            }
        })
        .ok()?;
    Some(Mutex::new(sender))
});

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
