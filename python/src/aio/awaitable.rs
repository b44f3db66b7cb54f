//! The awaitable protocol shared by every operation that may have to wait: reads
//! ([`crate::aio::waiting::Waiting`]) and writes ([`crate::aio::write::Writing`]).
//!
//! An [`Awaitable`] holds what an await needs while it is parked — the core operation it
//! listens on (with its [`Hub`] waker), the loop future the task waits on, the timeout's timer —
//! and implements the coroutine rules once. What differs between reads and writes is an
//! [`Attempt`]: one try with the GIL held, the core operation that says when the next try may
//! complete, the deadline, what a thrown-in exception carries. PyO3 classes cannot be generic,
//! so each class holds an `Awaitable<ItsAttempt>`, implements [`Host`], and gets its Python
//! methods (`__await__`, `__next__`, `send`, `throw`, `close`, GC support) from
//! [`awaitable_methods!`], which delegates to the functions here.
//!
//! Awaiting runs `__next__` inside the task: an attempt, and if it must wait, the core
//! operation is polled with a hub waker and a loop future is yielded. When the hub (loop
//! thread) sees the waker fire, it re-polls and resolves the future with `None`; the task
//! resumes, `__next__` attempts again and completes. A cancelled await (`throw`) or an
//! abandoned one (`close`) only disarms: nothing is taken.
//!
//! Like a coroutine it is awaited once: a second `await` while it is awaited raises
//! `RuntimeError("... is being awaited already")`, a step while its future is pending (a second
//! driver, e.g. `send()` by hand) likewise, and awaiting or stepping it once it finished
//! (completed, raised, was closed or thrown into) raises
//! `RuntimeError("cannot reuse already awaited ...")`. Calls re-entering it from inside its own
//! step (Python code the attempt or the loop runs) raise `RuntimeError("... is already
//! executing")`, never a Rust panic.

use std::task::Waker;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::pyclass::boolean_struct::{False, True};
use pyo3::sync::PyOnceLock;
use pyo3::{PyClass, PyTraverseError, PyVisit};

use crate::aio::done::stop_iteration;
use crate::aio::hub::{Hub, Parked};
use crate::aio::throw::{awaited_already, executing, reused, thrown};
use crate::errors::timed_out;

/// The outcome of an attempt: `None` to wait, else the value or the error to raise.
pub type Outcome = Option<PyResult<Py<PyAny>>>;

/// A core operation an armed await polls (`Send + Sync`: pyclasses must be).
pub trait Listener: Send + Sync {
    /// Polls with `waker`: `true` when resolved (an attempt may complete, or would fail), else
    /// a listener holding `waker` is armed.
    fn poll(&mut self, waker: &Waker) -> bool;
}

/// What one kind of awaitable does at its steps; [`Awaitable`] runs the protocol around it.
pub trait Attempt {
    /// The frozen object whose core state [`Attempt::listen`] borrows (buffer, writer).
    type Owner: PyClass<Frozen = True> + Sync;

    /// The method's name, for errors: `"aread()"`.
    fn what(&self) -> &'static str;

    /// The object the listener borrows; kept alive while it is armed.
    fn owner(&self) -> &Py<Self::Owner>;

    /// One try with the GIL held: completes (value or error) or says "wait", taking nothing
    /// when it waits or fails.
    fn attempt(&mut self, py: Python<'_>) -> Outcome;

    /// The core operation that resolves once the next attempt may complete.
    fn listen<'a>(&self, owner: &'a Self::Owner) -> Box<dyn Listener + 'a>;

    /// The time after which a try that must still wait raises `TimeoutError`.
    fn deadline(&mut self, _py: Python<'_>) -> PyResult<Option<Instant>> {
        Ok(None)
    }

    /// The exception thrown into the await, as it is raised from it.
    fn thrown(&self, _py: Python<'_>, error: PyErr) -> PyErr {
        error
    }

    /// The cycle collector's view of the Python objects the attempt holds.
    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError>;
}

/// An await parked on a core operation.
struct Armed {
    /// Declared first, so dropped before `_owner`, whose state it borrows.
    op: Box<dyn Listener>,
    id: u64,
    waker: Waker,
    /// Keeps the owner (and so the state `op` borrows) alive.
    _owner: Py<PyAny>,
}

impl Armed {
    fn new<A: Attempt>(py: Python<'_>, attempt: &A, id: u64, waker: Waker) -> Self {
        let owner = attempt.owner().clone_ref(py);
        let op = attempt.listen(owner.get());
        // SAFETY: `op` borrows the state of the frozen pyclass object that `owner` keeps alive.
        // A Python object never moves and a frozen class's fields are never replaced, so the
        // borrowed state stays valid while `owner` lives. `owner` is stored next to `op` in
        // this struct and declared after it, so `op` (and its listener) is always dropped
        // first, and `op` is never handed out with the extended lifetime.
        let op = unsafe {
            std::mem::transmute::<Box<dyn Listener + '_>, Box<dyn Listener + 'static>>(op)
        };
        Self {
            op,
            id,
            waker,
            _owner: owner.into_any(),
        }
    }

    /// Polls the operation: `true` when it resolved.
    fn poll(&mut self) -> bool {
        self.op.poll(&self.waker)
    }
}

/// The protocol state of an await, around its [`Attempt`].
pub struct Awaitable<A: Attempt> {
    /// What this await does.
    pub attempt: A,
    armed: Option<Armed>,
    /// The loop future the task waits on while armed.
    fut: Option<Py<PyAny>>,
    /// The `call_later` handle of the timeout, while armed.
    timer: Option<Py<PyAny>>,
    hub: Option<Py<Hub>>,
    /// Stepped at least once.
    started: bool,
    /// Completed, raised, closed or thrown into: awaiting it again is an error.
    finished: bool,
}

/// A pyclass holding an [`Awaitable`]: what [`awaitable_methods!`] needs of it.
pub trait Host: PyClass<Frozen = False> {
    /// What the awaitable does.
    type Attempt: Attempt;

    /// The protocol state.
    fn awaitable(&self) -> &Awaitable<Self::Attempt>;

    /// The protocol state, to step it.
    fn awaitable_mut(&mut self) -> &mut Awaitable<Self::Attempt>;

    /// How the hub records it while it is armed.
    fn parked(slf: Py<Self>) -> Parked;
}

/// `asyncio.get_running_loop`.
fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
    })?
    .bind(py)
    .call0()
}

/// `fut.done()`.
fn is_done(fut: &Bound<'_, PyAny>) -> PyResult<bool> {
    fut.call_method0(pyo3::intern!(fut.py(), "done"))?
        .is_truthy()
}

impl<A: Attempt> Awaitable<A> {
    /// An await of `attempt`, armed when a task first awaits it.
    pub fn new(attempt: A) -> Self {
        Self {
            attempt,
            armed: None,
            fut: None,
            timer: None,
            hub: None,
            started: false,
            finished: false,
        }
    }

    /// Drops the listener, the hub's record and the timer; nothing is taken.
    fn disarm(&mut self, py: Python<'_>) -> PyResult<()> {
        let removed = match (self.armed.take(), &self.hub) {
            (Some(armed), Some(hub)) => hub.get().remove(armed.id),
            _ => None,
        };
        drop(removed);
        self.fut = None;
        if let Some(timer) = self.timer.take() {
            timer.bind(py).call_method0(pyo3::intern!(py, "cancel"))?;
        }
        Ok(())
    }

    /// One step: completes (as `Err`, a `StopIteration` or the attempt's error) or arms and
    /// returns the loop future, the waker's id and the hub to record it with (once the
    /// borrow of the host ends).
    fn step<'py>(&mut self, py: Python<'py>) -> PyResult<(Py<PyAny>, u64, Bound<'py, Hub>)> {
        self.disarm(py)?;
        loop {
            if let Some(outcome) = self.attempt.attempt(py) {
                return Err(match outcome {
                    Ok(value) => stop_iteration(value),
                    Err(error) => error,
                });
            }
            let deadline = self.attempt.deadline(py)?;
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(timed_out(self.attempt.what()));
            }
            let event_loop = running_loop(py)?;
            let hub = Hub::of(&event_loop)?;
            let (id, waker) = hub.get().waker();
            let mut armed = Armed::new(py, &self.attempt, id, waker);
            if armed.poll() {
                continue; // became possible meanwhile: attempt again
            }
            let fut = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
            fut.setattr(pyo3::intern!(py, "_asyncio_future_blocking"), true)?;
            if let Some(d) = deadline {
                let delay = d.saturating_duration_since(now).as_secs_f64();
                let expire = hub.getattr(pyo3::intern!(py, "_expire"))?;
                let timer = event_loop
                    .call_method1(pyo3::intern!(py, "call_later"), (delay, expire, id))?;
                self.timer = Some(timer.unbind());
            }
            self.armed = Some(armed);
            self.fut = Some(fut.clone().unbind());
            self.hub = Some(hub.clone().unbind());
            return Ok((fut.unbind(), id, hub));
        }
    }

    /// The cycle collector's view: the loop future, timer and hub, and the attempt's objects.
    pub fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.fut)?;
        visit.call(&self.timer)?;
        visit.call(&self.hub)?;
        self.attempt.traverse(visit)
    }

    /// Breaks reference cycles (the cycle collector's `tp_clear`).
    pub fn clear(&mut self) {
        self.armed = None;
        self.fut = None;
        self.timer = None;
        self.hub = None;
    }
}

/// The method name of an await, for errors raised while it is borrowed elsewhere.
fn what<T: Host>(slf: &Bound<'_, T>) -> &'static str {
    slf.try_borrow()
        .map_or("awaitable", |this| this.awaitable().attempt.what())
}

/// Borrows the await for a step from outside; `RuntimeError` when it is inside its own step
/// already (re-entered from Python code the step runs).
fn enter<'py, T: Host>(slf: &Bound<'py, T>) -> PyResult<PyRefMut<'py, T>> {
    slf.try_borrow_mut().map_err(|_| executing(what(slf)))
}

/// `__await__`: itself, unless it is awaited already or finished.
pub fn start_await<T: Host>(slf: Bound<'_, T>) -> PyResult<Bound<'_, T>> {
    {
        let this = enter(&slf)?;
        let state = this.awaitable();
        if state.finished {
            return Err(reused(state.attempt.what()));
        }
        if state.started {
            return Err(awaited_already(state.attempt.what()));
        }
    }
    Ok(slf)
}

/// `__next__` (and `send`): attempts; completes (`StopIteration(value)` or the error) or arms
/// and returns the loop future the task yields.
pub fn next<T: Host>(slf: &Bound<'_, T>) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    let mut this = enter(slf)?;
    let state = this.awaitable_mut();
    if state.finished {
        return Err(reused(state.attempt.what()));
    }
    if let Some(fut) = &state.fut {
        // Only the awaiting task resumes it, and only once its future is done.
        if !is_done(fut.bind(py))? {
            return Err(awaited_already(state.attempt.what()));
        }
    }
    state.started = true;
    let stepped = state.step(py);
    if stepped.is_err() {
        state.finished = true;
    }
    drop(this);
    let (fut, id, hub) = stepped?;
    hub.get().insert(id, T::parked(slf.clone().unbind()));
    Ok(fut)
}

/// `throw`: cancellation (or any exception thrown into the awaiting coroutine) disarms without
/// taking anything, then raises the exception (checked as `coroutine.throw` checks it, and
/// completed by [`Attempt::thrown`]).
pub fn throw<T: Host>(
    slf: &Bound<'_, T>,
    typ: &Bound<'_, PyAny>,
    val: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    let mut this = enter(slf)?;
    let state = this.awaitable_mut();
    if state.finished {
        return Err(reused(state.attempt.what()));
    }
    state.finished = true;
    state.disarm(py)?;
    Err(state.attempt.thrown(py, thrown(typ, val)))
}

/// `close`: the awaiting coroutine was closed; disarms without taking anything.
pub fn close<T: Host>(slf: &Bound<'_, T>) -> PyResult<()> {
    let mut this = enter(slf)?;
    let state = this.awaitable_mut();
    state.finished = true;
    state.disarm(slf.py())
}

/// Called by the hub when the waker fired: re-polls; `Some(true)` when resolved (the future
/// is then done), `Some(false)` when re-armed on a new listener, `None` when the await is busy
/// (borrowed) and must be looked at again.
pub fn on_wake<T: Host>(slf: &Bound<'_, T>) -> PyResult<Option<bool>> {
    let resolved = {
        let Ok(mut this) = slf.try_borrow_mut() else {
            return Ok(None);
        };
        match this.awaitable_mut().armed.as_mut() {
            Some(armed) => armed.poll(),
            None => true,
        }
    };
    if resolved {
        resolve(slf)?;
    }
    Ok(Some(resolved))
}

/// Resolves the loop future (the task resumes and attempts again).
pub fn resolve<T: Host>(slf: &Bound<'_, T>) -> PyResult<()> {
    let py = slf.py();
    let fut = {
        let mut this = enter(slf)?;
        let state = this.awaitable_mut();
        state.armed = None;
        state.fut.as_ref().map(|f| f.clone_ref(py))
    };
    if let Some(fut) = fut {
        let fut = fut.bind(py);
        if !is_done(fut)? {
            fut.call_method1(pyo3::intern!(py, "set_result"), (py.None(),))?;
        }
    }
    Ok(())
}

/// The Python methods of a [`Host`] pyclass: the awaitable protocol, delegated to this module.
macro_rules! awaitable_methods {
    ($host:ty) => {
        #[pyo3::pymethods]
        impl $host {
            fn __await__(slf: pyo3::Bound<'_, Self>) -> pyo3::PyResult<pyo3::Bound<'_, Self>> {
                $crate::aio::awaitable::start_await(slf)
            }

            fn __iter__(slf: pyo3::Bound<'_, Self>) -> pyo3::Bound<'_, Self> {
                slf
            }

            /// Attempts; completes (`StopIteration(value)` or the error) or arms and yields a
            /// loop future to the task.
            fn __next__(slf: &pyo3::Bound<'_, Self>) -> pyo3::PyResult<pyo3::Py<pyo3::PyAny>> {
                $crate::aio::awaitable::next(slf)
            }

            /// Generator protocol (`yield from` delegation): a sent value is ignored.
            fn send(
                slf: &pyo3::Bound<'_, Self>,
                _value: &pyo3::Bound<'_, pyo3::PyAny>,
            ) -> pyo3::PyResult<pyo3::Py<pyo3::PyAny>> {
                $crate::aio::awaitable::next(slf)
            }

            /// Cancellation (any exception thrown into the awaiting coroutine): disarms
            /// without taking anything, then raises the exception.
            #[pyo3(signature = (typ, val=None, _tb=None))]
            fn throw(
                slf: &pyo3::Bound<'_, Self>,
                typ: &pyo3::Bound<'_, pyo3::PyAny>,
                val: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
                _tb: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
            ) -> pyo3::PyResult<pyo3::Py<pyo3::PyAny>> {
                $crate::aio::awaitable::throw(slf, typ, val)
            }

            /// The awaiting coroutine was closed: disarms without taking anything.
            fn close(slf: &pyo3::Bound<'_, Self>) -> pyo3::PyResult<()> {
                $crate::aio::awaitable::close(slf)
            }

            fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
                $crate::aio::awaitable::Host::awaitable(self).traverse(&visit)
            }

            fn __clear__(&mut self) {
                $crate::aio::awaitable::Host::awaitable_mut(self).clear()
            }
        }
    };
}
pub(crate) use awaitable_methods;
