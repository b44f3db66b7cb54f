//! The threads that run Python: NIF-owned, never ERTS threads, each keeping one Python
//! thread state for its whole life (attached once; the GIL is released only while waiting
//! for the next job).
//!
//! - Context `N` (`py:context(N)`, `1..=contexts`) is one thread with its own queue and its
//!   own `__main__`-like namespace for `eval`/`exec`: its calls run one at a time, in order.
//! - Context-free calls (`py:call/3`) go to a shared queue whose workers are created on
//!   demand up to `max_workers`, so 20 (or 100) calls blocked in Python leave room for new
//!   ones: while jobs wait that no idle worker will take, its watcher thread ([`watch`])
//!   adds workers when the others are blocked (they want little CPU: `cpu_demand`), and
//!   none when they merely wait for the GIL, which more threads would only contend for;
//!   workers idle for [`RETIRE_AFTER`] exit while more than [`KEEP_WORKERS`] remain.
//!
//! No Python ever runs on a dirty scheduler, and no scheduler ever waits for the GIL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::py::config::Config;
use crate::py::cpu_demand::{Demand, Meter};
use crate::py::job::{Interrupts, Job};
use crate::py::queue::{Next, Queue};

/// How often the shared queue's watcher checks that jobs still wait with no idle worker to
/// take them. Each check is a wake-up of its own: every 1 ms, the watcher took 1.6-2% of a
/// CPU under a WSGI echo (whose jobs always wait for the GIL).
const WATCH_EVERY: Duration = Duration::from_millis(5);
/// A check this long after the previous one means the shortage ended meanwhile (the watcher
/// slept): a new [`DEMAND_WINDOW`] begins, so idle time does not pass for blocked workers.
/// Longer than a check, as the watcher itself may wait a few milliseconds for a CPU.
const SHORTAGE_GAP: Duration = Duration::from_millis(12);
/// The span over which the watcher measures the workers' demand for CPU before adding any:
/// the most a call blocked in Python delays new ones. Over 1 ms windows a WSGI echo's
/// workers (GIL-bound) measured 0.4-4 CPUs (the kernel counts a wait for a CPU when the
/// thread gets one); over 10 ms, 1.1-1.9.
const DEMAND_WINDOW: Duration = Duration::from_millis(10);
/// The demand (CPUs' worth, workers summed) below which the pool grows: Python's threads
/// use one CPU between them (the GIL), so workers that want much less are blocked (in a
/// read, a sleep, a database query) and the GIL has room for more of them.
const GROW_BELOW_CPUS: f64 = 0.75;
/// How long an extra worker of the shared queue stays idle before exiting.
const RETIRE_AFTER: Duration = Duration::from_secs(30);
/// Workers of the shared queue that never retire (they also serve the first calls at once).
const KEEP_WORKERS: usize = 2;
/// Stack of each worker: Python recursion and C extensions need more than Rust's 2 MiB.
const STACK_SIZE: usize = 8 << 20;

struct Pool {
    contexts: Vec<Arc<Queue>>,
    shared: Arc<Queue>,
}

static POOL: OnceLock<Pool> = OnceLock::new();
/// The scheduling slice every worker asks for while it sleeps in a buffer's wait
/// (`Config::worker_slice_us`, `py_buffer_core::short_slice`).
static SLICE_US: AtomicU64 = AtomicU64::new(0);

/// Why a job could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// The pool is not running (Python failed to start).
    NotStarted,
    /// Every thread of the queue (the shared pool's `max_workers`, a context's one) runs a
    /// timed-out job that has not returned.
    Overloaded,
    /// `py:stop/0` was called.
    Stopped,
}

impl SubmitError {
    /// The reason a caller is given: `{error, Reason}`.
    pub fn atom(self) -> rustler::Atom {
        match self {
            SubmitError::NotStarted => crate::atoms::not_started(),
            SubmitError::Overloaded => crate::atoms::overloaded(),
            SubmitError::Stopped => crate::atoms::stopped(),
        }
    }
}

/// A fresh namespace for `eval`/`exec` on one worker (or one `erlang.Inbox`).
pub fn namespace(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let namespace = PyDict::new(py);
    namespace.set_item("__builtins__", py.import("builtins")?)?;
    namespace.set_item("__name__", "__py_context__")?;
    Ok(namespace)
}

fn serve(queue: Arc<Queue>, retire_after: Option<Duration>) {
    py_buffer_core::short_slice::while_asleep(SLICE_US.load(Ordering::Relaxed));
    // Only the shared pool grows, so only its workers are measured (by its watcher); a
    // context's one thread opens no `/proc` file for it.
    let me = retire_after.is_some().then(Meter::of_current);
    if let Some(me) = &me {
        queue.enter(me);
    }
    Python::attach(|py| {
        let namespace = namespace(py).expect("a new dict and the builtins module");
        loop {
            let waiting = Arc::clone(&queue);
            match py.detach(move || waiting.next(retire_after, KEEP_WORKERS)) {
                Next::Job(job) => {
                    // A panic in one job must not kill the worker (a context would be lost).
                    let run = std::panic::AssertUnwindSafe(|| {
                        job.run(py, &namespace, Interrupts::OnTimeout)
                    });
                    let _ = std::panic::catch_unwind(run);
                }
                Next::Retire => break,
            }
        }
    });
    if let Some(me) = &me {
        queue.leave(me);
    }
}

/// Starts a worker thread on `queue` (whose thread count the caller already raised; it is
/// lowered again if the thread cannot be started).
fn spawn(name: String, queue: &Arc<Queue>, retire_after: Option<Duration>) -> bool {
    let served = Arc::clone(queue);
    let started = std::thread::Builder::new()
        .name(name)
        .stack_size(STACK_SIZE)
        .spawn(move || serve(served, retire_after));
    if started.is_err() {
        queue.release_thread();
    }
    started.is_ok()
}

/// Starts the context workers and the first shared workers (once per VM). Fails, leaving
/// the pool unstarted (every call then returns `{error, not_started}`), if the context
/// threads cannot be started.
pub fn start(config: &Config) -> Result<(), String> {
    if POOL.get().is_some() {
        return Ok(());
    }
    SLICE_US.store(config.worker_slice_us, Ordering::Relaxed);
    let mut contexts = Vec::with_capacity(config.contexts);
    for n in 1..=config.contexts {
        let queue = Arc::new(Queue::new(1));
        if !(queue.reserve_thread() && spawn(format!("py-ctx-{n}"), &queue, None)) {
            return Err(format!("could not start Python context thread {n}"));
        }
        contexts.push(queue);
    }
    let shared = Arc::new(Queue::new(config.max_workers.max(KEEP_WORKERS)));
    let watched = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("py-pool-watch".into())
        .spawn(move || watch(watched))
        .map_err(|e| format!("could not start the Python pool's watcher thread: {e}"))?;
    for _ in 0..KEEP_WORKERS {
        // The watcher starts more if these cannot be.
        let _ = shared.reserve_thread() && spawn("py-worker".into(), &shared, Some(RETIRE_AFTER));
    }
    let _ = POOL.set(Pool { contexts, shared });
    Ok(())
}

/// Queues `job` on context `context` (`1..=N`, taken modulo N) or, for 0, the shared queue.
pub fn submit(context: usize, job: Job) -> Result<(), SubmitError> {
    try_submit(context, job).map_err(|refused| refused.0)
}

/// [`submit`], giving the job back when it cannot be queued (to answer it).
pub fn try_submit(context: usize, job: Job) -> Result<(), Box<(SubmitError, Job)>> {
    let Some(pool) = POOL.get() else {
        return Err(Box::new((SubmitError::NotStarted, job)));
    };
    if crate::py::finalize::is_stopping() {
        return Err(Box::new((SubmitError::Stopped, job)));
    }
    let queue = queue_of(pool, context);
    if queue.is_exhausted() {
        return Err(Box::new((SubmitError::Overloaded, job)));
    }
    queue.push(job);
    Ok(())
}

/// The shared queue's watcher, until the queue closes. While jobs wait that no idle worker
/// will take, it measures the workers' demand for CPU over each [`DEMAND_WINDOW`]; below
/// [`GROW_BELOW_CPUS`] (they are blocked, not waiting for the GIL) it adds the workers that
/// would bring it there if they did as the others (all the waiting jobs' worth when the
/// others want none). If a thread cannot be started, the jobs wait for a busy worker (and
/// the next window).
fn watch(queue: Arc<Queue>) {
    let mut demand = Demand::default();
    while let Some(workers) = queue.await_shortage(WATCH_EVERY) {
        let Some(cpus) = demand.look(&workers, DEMAND_WINDOW, SHORTAGE_GAP) else {
            continue;
        };
        if cpus < GROW_BELOW_CPUS {
            let per_worker = cpus / workers.len().max(1) as f64;
            let wanted = ((GROW_BELOW_CPUS - cpus) / per_worker).ceil();
            // The cast saturates: workers that want no CPU at all ask for every waiting job.
            let added = queue.reserve_threads(wanted as usize);
            for _ in 0..added {
                spawn("py-worker".into(), &queue, Some(RETIRE_AFTER));
            }
        }
    }
}

fn queue_of(pool: &Pool, context: usize) -> &Arc<Queue> {
    match context {
        0 => &pool.shared,
        n => &pool.contexts[(n - 1) % pool.contexts.len()],
    }
}

/// The stuck-job counter of the queue `context` goes to (`None` before start).
pub fn stuck_counter(context: usize) -> Option<Arc<std::sync::atomic::AtomicUsize>> {
    POOL.get()
        .map(|pool| queue_of(pool, context).stuck_counter())
}

/// Stuck jobs over every queue.
pub fn stuck() -> usize {
    POOL.get().map_or(0, |pool| {
        pool.contexts
            .iter()
            .chain(std::iter::once(&pool.shared))
            .map(|queue| queue.stuck())
            .sum()
    })
}

/// Worker threads alive (contexts and shared pool).
pub fn running() -> usize {
    POOL.get().map_or(0, |pool| {
        pool.contexts
            .iter()
            .chain(std::iter::once(&pool.shared))
            .map(|queue| queue.load().0)
            .sum()
    })
}

/// Closes every queue and waits up to `grace` for the workers to exit; returns how many
/// are still running.
pub fn shutdown(grace: Duration) -> usize {
    let Some(pool) = POOL.get() else {
        return 0;
    };
    pool.contexts
        .iter()
        .chain(std::iter::once(&pool.shared))
        .for_each(|queue| queue.close());
    let deadline = std::time::Instant::now() + grace;
    loop {
        let left = running();
        if left == 0 || std::time::Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// (number of contexts, shared workers, idle shared workers), or `None` before start.
pub fn info() -> Option<(usize, usize, usize)> {
    let pool = POOL.get()?;
    let (threads, idle, _) = pool.shared.load();
    Some((pool.contexts.len(), threads, idle))
}
