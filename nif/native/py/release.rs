//! Python objects Erlang let go of (the face of a dead buffer resource, the object of a dead
//! `PyHandle`), dropped with the GIL held by whichever comes first: a worker ending a job,
//! which holds the GIL anyway ([`drain`]), or the `py-release` thread [`RELEASE_AFTER`]
//! later, which takes it for them. A scheduler, where a resource dies, never waits for the
//! GIL, and the bytes such an object keeps through its reader are freed within that delay
//! even when no job runs.
//!
//! Why not drop each at once on the release thread (as before): a WSGI request lets go of
//! two buffers, so at 10k requests a second that thread took the GIL 20k times a second,
//! 10% of a CPU, each time taking it from a worker in the middle of a request. Why not leave
//! them to pyo3, which decrefs at the next GIL acquisition: that may come much later (a
//! 512 MB body stayed in memory until some later `py:call`).

use std::sync::{Condvar, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use pyo3::prelude::*;

use crate::buffer::lock;

/// The most a released object waits for a job's end before the release thread drops it.
const RELEASE_AFTER: Duration = Duration::from_millis(10);

#[derive(Default)]
struct Pending {
    objects: Vec<Py<PyAny>>,
    /// The release thread waits for the first object (pushes otherwise need not wake it).
    thread_waits: bool,
}

static PENDING: LazyLock<Mutex<Pending>> = LazyLock::new(Default::default);
static FIRST_PENDING: Condvar = Condvar::new();

/// Whether the release thread runs (started with the first release).
static RELEASER: LazyLock<bool> = LazyLock::new(|| {
    std::thread::Builder::new()
        .name("py-release".into())
        .spawn(release_late)
        .is_ok()
});

fn pending() -> MutexGuard<'static, Pending> {
    lock(&PENDING)
}

/// Drops `object` with the GIL held, soon (any thread; here at once if the release thread
/// could not start: pyo3 then defers the decref to the next thread taking the GIL).
pub fn release(object: Py<PyAny>) {
    if !*RELEASER {
        drop(object);
        return;
    }
    let mut pending = pending();
    pending.objects.push(object);
    let wake = std::mem::take(&mut pending.thread_waits);
    drop(pending);
    if wake {
        FIRST_PENDING.notify_one();
    }
}

/// Drops every object released so far (a worker at a job's end: the GIL is held).
pub fn drain(_py: Python<'_>) {
    let objects = std::mem::take(&mut pending().objects);
    drop(objects);
}

/// The release thread: from each first pending object, waits [`RELEASE_AFTER`] for jobs to
/// drop it, then takes the GIL to drop what is left.
fn release_late() {
    loop {
        let mut waiting = pending();
        while waiting.objects.is_empty() {
            waiting.thread_waits = true;
            waiting = FIRST_PENDING
                .wait(waiting)
                .unwrap_or_else(|e| e.into_inner());
        }
        drop(waiting);
        std::thread::sleep(RELEASE_AFTER);
        let left = std::mem::take(&mut pending().objects);
        if left.is_empty() {
            continue;
        }
        let mut left = Some(left);
        let dropped = crate::py::finalize::with_python(|_py| drop(left.take())).is_some();
        if !dropped {
            // Python is gone: the objects can only be leaked.
            left.into_iter().flatten().for_each(std::mem::forget);
        }
    }
}
