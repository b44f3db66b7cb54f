//! `erlang.Inbox`: a Python thread that runs some `py` calls itself instead of the pool.
//!
//! ```python
//! inbox = erlang.Inbox("py_buffer.serve", "asgi", "myapp:app")   # on the loop's thread
//! loop.add_reader(inbox.fileno(), inbox.run)
//! ...
//! loop.remove_reader(inbox.fileno()); inbox.close()
//! ```
//!
//! An inbox claims the context-free calls `Module.Function(Key, ...)` whose first argument is
//! the string (binary) `Key`. The NIF queues such a call here instead of on the shared pool
//! and makes `fileno()` readable; its owner calls `run()` then, which runs every call queued
//! so far on the owner's thread, in order, and replies as a pool worker would. Why: an ASGI
//! request handed to its app's event loop through a pool worker costs two thread wake-ups
//! and a GIL hand-over (the worker's, then the loop's); through the inbox it costs the loop's
//! wake-up only, and none while the loop is still busy with earlier ones.
//!
//! Calls run here are never interrupted: a `py:call` that times out stops waiting (its reply
//! is dropped), but no `TimeoutError` is raised into the owner's thread, whose event loop
//! would be broken rather than the call. `close()`, or the object's end, gives the claim up:
//! calls still queued then go to the pool (or, once `py:stop/0` began, are answered
//! `{error, stopped}`), so no caller is left without a reply.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::py::job::{Interrupts, Job};
use crate::py::workers::{self, SubmitError};

/// The calls an inbox claims, as one registry key.
fn claim_key(module: &str, function: &str, first: &str) -> String {
    format!("{module}\0{function}\0{first}")
}

/// Open inboxes by the calls they claim.
static OPEN: RwLock<Option<HashMap<String, Arc<Core>>>> = RwLock::new(None);
/// `OPEN`'s size: a call finds no inbox without taking the lock while none is open.
static OPEN_COUNT: AtomicUsize = AtomicUsize::new(0);

#[derive(Default)]
struct Queued {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// The part of an inbox the NIF pushes to (shared with the registry).
pub struct Core {
    key: String,
    queued: Mutex<Queued>,
    /// Written (one byte) when a job arrives at an empty queue: the owner's `fileno()`
    /// becomes readable.
    wake: UnixStream,
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, Queued> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`, or gives it back if the inbox closed meanwhile.
    fn push(&self, job: Job) -> Result<(), Box<Job>> {
        let mut queued = self.lock();
        if queued.closed {
            return Err(Box::new(job));
        }
        let was_empty = queued.jobs.is_empty();
        queued.jobs.push_back(job);
        drop(queued);
        // `run` empties the socket before it takes the jobs, so a job that found the queue
        // non-empty is taken by a `run` still to come, which this earlier byte causes.
        if was_empty {
            // WouldBlock: the socket is full of earlier bytes, so it is readable already.
            let _ = (&self.wake).write(&[1]);
        }
        Ok(())
    }

    /// Stops taking jobs; returns those still queued.
    fn close(&self) -> VecDeque<Job> {
        let mut queued = self.lock();
        queued.closed = true;
        std::mem::take(&mut queued.jobs)
    }
}

fn registry() -> std::sync::RwLockWriteGuard<'static, Option<HashMap<String, Arc<Core>>>> {
    OPEN.write().unwrap_or_else(|e| e.into_inner())
}

/// The open inbox that claims `Module.Function(First, ...)`, if any (`first` is only asked
/// for while some inbox is open).
pub fn claimant(
    module: &str,
    function: &str,
    first: impl FnOnce() -> Option<String>,
) -> Option<Arc<Core>> {
    if OPEN_COUNT.load(Ordering::Acquire) == 0 {
        return None;
    }
    let first = first()?;
    let open = OPEN.read().unwrap_or_else(|e| e.into_inner());
    open.as_ref()?
        .get(&claim_key(module, function, &first))
        .cloned()
}

/// Queues `job` in `inbox`, or on the shared pool if that inbox has closed meanwhile; refused
/// like any call once `py:stop/0` began.
pub fn submit(inbox: &Core, job: Job) -> Result<(), SubmitError> {
    if crate::py::finalize::is_stopping() {
        return Err(SubmitError::Stopped);
    }
    match inbox.push(job) {
        Ok(()) => Ok(()),
        Err(job) => workers::submit(0, *job),
    }
}

/// Unregisters `core` (if it is still the one registered under its key) and hands its queued
/// jobs to the pool; a job the pool refuses is answered with the reason.
fn close_core(core: &Arc<Core>) {
    {
        let mut open = registry();
        if let Some(map) = open.as_mut() {
            if map.get(&core.key).is_some_and(|c| Arc::ptr_eq(c, core)) {
                map.remove(&core.key);
                OPEN_COUNT.store(map.len(), Ordering::Release);
            }
        }
    }
    for job in core.close() {
        if let Err(refused) = workers::try_submit(0, job) {
            let (reason, job) = *refused;
            job.refuse(reason.atom());
        }
    }
}

/// Closes every inbox (`py:stop/0`: their queued calls are answered `{error, stopped}`).
/// Call from a thread ERTS does not manage (replies are sent from here).
pub fn close_all() {
    let cores: Vec<Arc<Core>> = registry()
        .as_ref()
        .map(|map| map.values().cloned().collect())
        .unwrap_or_default();
    cores.iter().for_each(close_core);
}

/// `erlang.Inbox(module, function, key)`: see the module doc.
#[pyclass(frozen, module = "erlang", name = "Inbox")]
pub struct Inbox {
    core: Arc<Core>,
    /// The owner's end of the wake-up socket.
    readable: UnixStream,
    /// The `eval`/`exec` namespace jobs are given (calls do not use it).
    namespace: Py<PyDict>,
    /// Calls run so far.
    served: AtomicU64,
}

#[pymethods]
impl Inbox {
    #[new]
    fn new(py: Python<'_>, module: &str, function: &str, key: &str) -> PyResult<Self> {
        let (readable, wake) = UnixStream::pair()?;
        readable.set_nonblocking(true)?;
        wake.set_nonblocking(true)?;
        let namespace = workers::namespace(py)?;
        let core = Arc::new(Core {
            key: claim_key(module, function, key),
            queued: Mutex::new(Queued::default()),
            wake,
        });
        let mut open = registry();
        let map = open.get_or_insert_with(HashMap::new);
        if map.contains_key(&core.key) {
            return Err(PyValueError::new_err(format!(
                "the calls {module}.{function}({key:?}, ...) are claimed by another open inbox"
            )));
        }
        map.insert(core.key.clone(), Arc::clone(&core));
        OPEN_COUNT.store(map.len(), Ordering::Release);
        Ok(Self {
            core,
            readable,
            namespace: namespace.unbind(),
            served: AtomicU64::new(0),
        })
    }

    /// The descriptor that is readable when calls are queued.
    fn fileno(&self) -> i32 {
        self.readable.as_raw_fd()
    }

    /// Runs every call queued so far on this thread; returns how many ran.
    fn run(&self, py: Python<'_>) -> usize {
        let mut drain = [0u8; 64];
        loop {
            match (&self.readable).read(&mut drain) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let jobs = std::mem::take(&mut self.core.lock().jobs);
        let namespace = self.namespace.bind(py);
        let count = jobs.len();
        for job in jobs {
            // A panic in one job must not lose the others (job.run answers it already).
            let run = std::panic::AssertUnwindSafe(|| job.run(py, namespace, Interrupts::Never));
            let _ = std::panic::catch_unwind(run);
        }
        self.served.fetch_add(count as u64, Ordering::Relaxed);
        count
    }

    /// Gives up the claim; calls still queued go to the pool. Idempotent.
    fn close(&self) {
        close_core(&self.core);
    }

    /// True once closed.
    #[getter]
    fn closed(&self) -> bool {
        self.core.lock().closed
    }

    /// How many calls wait to be run.
    #[getter]
    fn pending(&self) -> usize {
        self.core.lock().jobs.len()
    }

    /// How many calls this inbox has run.
    #[getter]
    fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    fn __repr__(&self) -> String {
        let shown = self.core.key.replace('\0', " ");
        format!("erlang.Inbox({shown}, served={})", self.served())
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        close_core(&self.core);
    }
}
