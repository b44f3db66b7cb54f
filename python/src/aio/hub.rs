//! One hub per event loop: the queue and the doorbell through which writers wake the loop.
//!
//! A writer's `wake()` (on the writer's thread, which never takes the GIL — in the BEAM it is
//! an Erlang scheduler) pushes the woken operation's id into [`Signal`]'s queue and, when the
//! queue was empty, rings a [`Doorbell`] (an eventfd on Linux). The loop watches the other end with
//! `loop.add_reader`, registered once per loop; its callback ([`Hub::__call__`], GIL held)
//! drains the doorbell, then the queue, and re-polls each operation: ready ones resolve their
//! loop future, the others are left armed on a new listener. Idle, nothing runs: no timers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Wake, Waker};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::{PyTraverseError, PyVisit};

use crate::aio::awaitable;
use crate::aio::doorbell::Doorbell;
use crate::aio::waiting::Waiting;
use crate::aio::write::Writing;

/// An armed await the hub resolves: a read ([`Waiting`]) or a write ([`Writing`]).
pub enum Parked {
    /// An awaitable read, `wait_readable` or `wait_hangup`.
    Read(Py<Waiting>),
    /// An `awrite` or `await_writable`.
    Write(Py<Writing>),
}

impl Parked {
    /// Re-polls after a wake-up (see [`awaitable::on_wake`]).
    fn on_wake(&self, py: Python<'_>) -> PyResult<Option<bool>> {
        match self {
            Parked::Read(w) => awaitable::on_wake(w.bind(py)),
            Parked::Write(w) => awaitable::on_wake(w.bind(py)),
        }
    }

    /// Resolves the loop future so the task resumes (a timeout passed).
    fn resolve(&self, py: Python<'_>) -> PyResult<()> {
        match self {
            Parked::Read(w) => awaitable::resolve(w.bind(py)),
            Parked::Write(w) => awaitable::resolve(w.bind(py)),
        }
    }

    fn visit(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        match self {
            Parked::Read(w) => visit.call(w),
            Parked::Write(w) => visit.call(w),
        }
    }
}

/// The ids of woken operations, and the doorbell that tells the loop about them.
struct Signal {
    queue: Mutex<Vec<u64>>,
    bell: Doorbell,
}

impl Signal {
    fn queue(&self) -> MutexGuard<'_, Vec<u64>> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `id`; the first id of a batch also writes the wake-up byte. Never takes the GIL.
    fn push(&self, id: u64) {
        let first = {
            let mut queue = self.queue();
            queue.push(id);
            queue.len() == 1
        };
        if first {
            self.bell.ring();
        }
    }
}

/// The `Waker` of one armed operation: `wake()` queues its id.
struct WakeId {
    id: u64,
    signal: Arc<Signal>,
}

impl Wake for WakeId {
    fn wake(self: Arc<Self>) {
        self.signal.push(self.id);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.signal.push(self.id);
    }
}

/// Ids of armed operations; unique for the process's life.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The name of the attribute that stores a loop's hub on the loop itself.
const HUB_ATTR: &str = "_py_buffer_hub";

/// The wake-up hub of one event loop (its `add_reader` callback).
#[pyclass(frozen, module = "py_buffer._native")]
pub struct Hub {
    signal: Arc<Signal>,
    /// Armed awaits by id; only touched with the GIL held, on the loop's thread.
    armed: Mutex<HashMap<u64, Parked>>,
}

impl Hub {
    fn new() -> PyResult<Self> {
        Ok(Self {
            signal: Arc::new(Signal {
                queue: Mutex::new(Vec::new()),
                bell: Doorbell::new()?,
            }),
            armed: Mutex::new(HashMap::new()),
        })
    }

    fn armed(&self) -> MutexGuard<'_, HashMap<u64, Parked>> {
        self.armed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The hub of `event_loop`, created and registered with `add_reader` on first use.
    ///
    /// Stored as an attribute of the loop (so it lives exactly as long as the loop), or for
    /// loops that refuse attributes in a weak-keyed dictionary.
    pub fn of<'py>(event_loop: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Hub>> {
        let py = event_loop.py();
        let attr = pyo3::intern!(py, HUB_ATTR);
        if let Ok(hub) = event_loop.getattr(attr) {
            if let Ok(hub) = hub.cast_into::<Hub>() {
                return Ok(hub);
            }
        }
        static FALLBACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let fallback = FALLBACK.get_or_try_init(py, || -> PyResult<_> {
            Ok(py
                .import("weakref")?
                .getattr("WeakKeyDictionary")?
                .call0()?
                .unbind())
        })?;
        let fallback = fallback.bind(py);
        if let Ok(Some(hub)) = fallback
            .call_method1("get", (event_loop,))
            .map(|h| h.cast_into::<Hub>().ok())
        {
            return Ok(hub);
        }
        let hub = Bound::new(py, Hub::new()?)?;
        event_loop.call_method1(
            pyo3::intern!(py, "add_reader"),
            (hub.get().signal.bell.fd(), hub.clone()),
        )?;
        if event_loop.setattr(attr, &hub).is_err() {
            fallback.set_item(event_loop, &hub)?;
        }
        Ok(hub)
    }

    /// A fresh id and the `Waker` that queues it on this hub.
    pub fn waker(&self) -> (u64, Waker) {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let waker = Waker::from(Arc::new(WakeId {
            id,
            signal: Arc::clone(&self.signal),
        }));
        (id, waker)
    }

    /// Records `parked` as armed under `id`.
    pub fn insert(&self, id: u64, parked: Parked) {
        self.armed().insert(id, parked);
    }

    /// Forgets the await armed under `id`, returning it (drop it after the lock is released).
    pub fn remove(&self, id: u64) -> Option<Parked> {
        self.armed().remove(&id)
    }

    /// Number of armed awaits (for tests and `repr`).
    pub fn len(&self) -> usize {
        self.armed().len()
    }
}

#[pymethods]
impl Hub {
    /// The loop's reader callback: resolves the futures of the operations writers woke.
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        // The doorbell first, then the queue: an id pushed after the queue is taken rings
        // again, so it is never left unseen.
        self.signal.bell.drain();
        let ids = std::mem::take(&mut *self.signal.queue());
        let mut first_error = None;
        for id in ids {
            let Some(waiting) = self.remove(id) else {
                continue; // already resolved, cancelled or re-armed under a new id
            };
            match waiting.on_wake(py) {
                Ok(Some(true)) => {}
                Ok(Some(false)) => self.insert(id, waiting),
                Ok(None) => {
                    // Busy (never expected: it is only borrowed by its own steps, which never
                    // run the loop): look again on the next loop iteration.
                    self.insert(id, waiting);
                    self.signal.push(id);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The timer callback of an await whose timeout passed: resolves its future so that the
    /// task resumes and raises `TimeoutError` (after one last look at the buffer).
    fn _expire(&self, py: Python<'_>, id: u64) -> PyResult<()> {
        if let Some(waiting) = self.remove(id) {
            waiting.resolve(py)?;
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("<py_buffer hub armed={}>", self.len())
    }

    /// The cycle collector's view: a loop that dies with awaits still armed (loop → hub →
    /// await → future → loop) is collectable.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The lock is only ever held briefly with the GIL and never across Python code, so it
        // is free whenever the collector runs; `try_lock` just avoids any doubt.
        if let Ok(armed) = self.armed.try_lock() {
            for parked in armed.values() {
                parked.visit(&visit)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let armed = std::mem::take(&mut *self.armed());
        drop(armed);
    }
}
