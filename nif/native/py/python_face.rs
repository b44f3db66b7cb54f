//! The Python face of an Erlang buffer, and the identity of buffers crossing both ways.
//!
//! - One `erlang.PyBuffer` object per `py_buffer` resource, made at its first crossing into
//!   Python and kept by the buffer ([`Inner`]), so a buffer passed twice is the same Python
//!   object (`is`) and its `settimeout` sticks. It reads through a clone of the resource's
//!   reader: Erlang writes and Python reads one core state, nothing is copied.
//! - While Python may hold such an object, [`CROSSED`] maps it to the Erlang resource it came
//!   from, so handing it back to Erlang gives that very resource term (`B2 =:= B`: messages
//!   and map keys match). A `PyBuffer` made in Python becomes a [`PyHandle`] resource on its
//!   way out, entered the same way, so it round-trips to the same object and term.
//! - [`CROSSED`] holds the resource, which (through the buffer or handle) holds the object:
//!   an entry is dropped by [`sweep`] once Python holds no other reference to the object
//!   (reference count 1, read under the GIL, when no Python code can take a new one), and
//!   from then on the resource lives only as long as Erlang references it. Workers sweep the
//!   objects a job touched when it ends, and every entry (for objects Python kept past a
//!   call and dropped later, as an ASGI request's task keeps its body) at the end of a job
//!   [`FULL_SWEEP_EVERY`] jobs or [`FULL_SWEEP_AFTER`] after the last full sweep, whichever
//!   comes first: a dropped object waits for a bounded count of jobs and, while jobs run, a
//!   bounded time.
//! - A face of a buffer whose resource died is dropped by a worker's next job end or by the
//!   `py-release` thread ([`crate::py::release`]): a scheduler never waits for the GIL, and
//!   the bytes the object keeps through its reader are freed promptly.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use py_buffer_python::PyBuffer;
use pyo3::ffi;
use pyo3::prelude::*;
use rustler::ResourceArc;

use crate::buffer::{lock, Buffer, BufferArc, Inner};
use crate::py::handle::PyHandle;

/// Jobs between two sweeps of every entry of [`CROSSED`].
pub const FULL_SWEEP_EVERY: usize = 1024;

/// Time after which the next job's end sweeps every entry of [`CROSSED`], if
/// [`FULL_SWEEP_EVERY`] jobs did not come first (a sweep checks one reference count per
/// entry: microseconds for thousands).
pub const FULL_SWEEP_AFTER: Duration = Duration::from_millis(100);

/// When the last full sweep ran, in milliseconds since [`EPOCH`].
static LAST_FULL_SWEEP_MS: AtomicU64 = AtomicU64::new(0);
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Face object address → its buffer (weak: the fallback when no resource is recorded).
static FACES: LazyLock<Mutex<HashMap<usize, Weak<Inner>>>> = LazyLock::new(Default::default);

/// The Erlang resource an object in Python's hands came from (or went out as).
#[derive(Clone)]
pub enum Resource {
    /// A `py_buffer` buffer.
    Buffer(BufferArc),
    /// A Python object owned by Erlang.
    Handle(ResourceArc<PyHandle>),
}

/// Object address → its resource, while Python may hold the object.
static CROSSED: LazyLock<Mutex<HashMap<usize, Resource>>> = LazyLock::new(Default::default);

static JOBS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Addresses entered into [`CROSSED`] by the current job on this thread.
    static TOUCHED: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

fn cross(address: usize, resource: impl FnOnce() -> Resource) {
    lock(&CROSSED).entry(address).or_insert_with(resource);
    TOUCHED.with(|touched| {
        let mut touched = touched.borrow_mut();
        // Threads that are not workers (Python threads calling `erlang.send`) never sweep
        // their list: keep it bounded; the full sweeps cover what it forgets.
        if touched.len() >= 4096 {
            touched.clear();
        }
        touched.push(address);
    });
}

/// The `PyBuffer` object of `buffer`, made on first use; recorded as in Python's hands.
pub fn face<'py>(py: Python<'py>, buffer: &BufferArc) -> PyResult<Bound<'py, PyBuffer>> {
    let inner: &Arc<Inner> = &buffer.0;
    let object = match inner.python_object().get() {
        Some(object) => object.bind(py).clone(),
        None => {
            let object = Py::new(py, PyBuffer::from_reader(inner.reader().clone()))?;
            let address = object.as_ptr() as usize;
            // Another thread may have made one meanwhile: the first one set wins.
            if inner.python_object().set(object).is_ok() {
                lock(&FACES).insert(address, Arc::downgrade(inner));
            }
            inner
                .python_object()
                .get()
                .expect("set just above, by us or another thread")
                .bind(py)
                .clone()
        }
    };
    cross(object.as_ptr() as usize, || {
        Resource::Buffer(BufferArc::clone(buffer))
    });
    Ok(object)
}

/// The object a [`PyHandle`] owns; recorded as in Python's hands.
pub fn handle_object<'py>(
    py: Python<'py>,
    handle: &ResourceArc<PyHandle>,
) -> Option<Bound<'py, PyAny>> {
    let object = handle.object(py)?;
    cross(handle.address(), || {
        Resource::Handle(ResourceArc::clone(handle))
    });
    Some(object)
}

/// The Erlang resource for a `PyBuffer` leaving Python: the one it came from, a buffer
/// whose face it is, or a new [`PyHandle`] owning it (recorded, so it comes back the same).
pub fn resource_of(object: &Bound<'_, PyBuffer>) -> Resource {
    let address = object.as_ptr() as usize;
    if let Some(resource) = lock(&CROSSED).get(&address) {
        return resource.clone();
    }
    let inner = lock(&FACES).get(&address).and_then(Weak::upgrade);
    let resource = match inner {
        Some(inner) => Resource::Buffer(BufferArc::new(Buffer(inner))),
        None => Resource::Handle(ResourceArc::new(PyHandle::new(
            object.clone().into_any().unbind(),
        ))),
    };
    let kept = resource.clone();
    cross(address, move || kept);
    resource
}

/// Drops the entries of objects Python no longer references; returns how many entries
/// remain. With the GIL held (which also orders the sweeps of all workers).
fn sweep_addresses(_py: Python<'_>, addresses: impl IntoIterator<Item = usize>) -> usize {
    let mut released = Vec::new();
    let remaining = {
        let mut crossed = lock(&CROSSED);
        for address in addresses {
            // SAFETY: an address in CROSSED is a live object: the entry's resource keeps it
            // alive (buffer → face, handle → object); the GIL is held, so the count is stable.
            let only_ours = crossed.contains_key(&address)
                && unsafe { ffi::Py_REFCNT(address as *mut ffi::PyObject) } <= 1;
            if only_ours {
                released.extend(crossed.remove(&address));
            }
        }
        crossed.len()
    };
    // Outside the lock: dropping a resource may free a buffer or hand an object over.
    drop(released);
    remaining
}

/// At the end of a job (GIL held): sweeps what the job touched, and now and then everything.
pub fn sweep(py: Python<'_>) {
    let touched = TOUCHED.with(|touched| std::mem::take(&mut *touched.borrow_mut()));
    let remaining = sweep_addresses(py, touched);
    let by_jobs = JOBS.fetch_add(1, Ordering::Relaxed) % FULL_SWEEP_EVERY == FULL_SWEEP_EVERY - 1;
    // The clock is read only when something is registered: most jobs pass no buffer.
    let by_time = || {
        now_ms().saturating_sub(LAST_FULL_SWEEP_MS.load(Ordering::Relaxed))
            >= FULL_SWEEP_AFTER.as_millis() as u64
    };
    if by_jobs || (remaining > 0 && by_time()) {
        LAST_FULL_SWEEP_MS.store(now_ms(), Ordering::Relaxed);
        let all: Vec<usize> = lock(&CROSSED).keys().copied().collect();
        sweep_addresses(py, all);
    }
}

/// Drops every entry (when the interpreter stops: nothing sweeps any more), so resources
/// that were in Python's hands live only as long as Erlang references them.
pub fn clear() {
    let all = std::mem::take(&mut *lock(&CROSSED));
    drop(all);
}

/// Removes the registry entry of a face whose buffer is dying, and releases the object.
pub fn forget(object: Py<PyBuffer>) {
    lock(&FACES).remove(&(object.as_ptr() as usize));
    crate::py::release::release(object.into_any());
}
