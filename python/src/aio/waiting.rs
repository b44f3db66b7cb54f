//! The awaitable of a read that must wait: armed on the core's listener, resolved by the loop.
//!
//! Awaiting it runs [`Waiting::__next__`] inside the task: one more attempt at the read, and if
//! it must still wait, the core's readiness operation is polled with a [`Hub`] waker and a loop
//! future is yielded. When a writer makes the read possible, the hub (loop thread) resolves the
//! future with `None`; the task resumes, `__next__` runs again and takes the bytes. Until that
//! resumed attempt, nothing is taken: a cancelled await (`throw`) or an abandoned one (`close`)
//! only disarms the listener, so the next read sees every byte.
//!
//! Like a coroutine it is awaited once: a second `await` while it is awaited raises
//! `RuntimeError("... is being awaited already")`, a step while its future is pending (a second
//! driver, e.g. `send()` by hand) likewise, and awaiting or stepping it once it finished
//! (completed, raised, was closed or thrown into) raises
//! `RuntimeError("cannot reuse already awaited ...")`. Calls re-entering it from inside its own
//! step (a `readinto` target's `__buffer__` calling `close()`) raise `RuntimeError` too.

use std::task::Waker;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::{PyTraverseError, PyVisit};

use crate::aio::done::stop_iteration;
use crate::aio::hub::Hub;
use crate::aio::request::{Readiness, Request};
use crate::aio::throw::{awaited_already, executing, reused, thrown};
use crate::args;
use crate::buffer::PyBuffer;
use crate::errors::timed_out;
use crate::wait::deadline;

/// An await parked on the core's listener.
struct Armed {
    /// Declared first, so dropped before `_buffer`, whose reader it borrows.
    op: Readiness<'static>,
    id: u64,
    waker: Waker,
    /// Keeps the buffer (and so the state `op` borrows) alive.
    _buffer: Py<PyBuffer>,
}

impl Armed {
    fn new(buffer: &Bound<'_, PyBuffer>, request: &Request, id: u64, waker: Waker) -> Self {
        let owner = buffer.clone().unbind();
        let op = request.readiness(owner.get());
        // SAFETY: `op` borrows the reader of the frozen `PyBuffer` that `owner` keeps alive. A
        // Python object never moves and a frozen class's fields are never replaced, so the
        // borrowed state stays valid while `owner` lives. `owner` is stored next to `op` in this
        // struct and declared after it, so `op` (and its listener) is always dropped first, and
        // `op` is never handed out with the extended lifetime.
        let op = unsafe { std::mem::transmute::<Readiness<'_>, Readiness<'static>>(op) };
        Self {
            op,
            id,
            waker,
            _buffer: owner,
        }
    }

    /// Polls the readiness operation: `true` when it resolved.
    fn poll(&mut self) -> bool {
        self.op.poll(&self.waker)
    }
}

/// A read that had to wait, awaitable once.
#[pyclass(module = "py_buffer._native")]
pub struct Waiting {
    armed: Option<Armed>,
    request: Request,
    buffer: Py<PyBuffer>,
    /// The loop future the task waits on while armed.
    fut: Option<Py<PyAny>>,
    /// The `call_later` handle of the timeout, while armed.
    timer: Option<Py<PyAny>>,
    /// `None` until the first arming reads the buffer's timeout; then the deadline, if any.
    deadline: Option<Option<Instant>>,
    hub: Option<Py<Hub>>,
    /// Stepped at least once.
    started: bool,
    /// Completed, raised, closed or thrown into: awaiting it again is an error.
    finished: bool,
}

/// The method name of an await, for errors raised while it is borrowed elsewhere.
fn slf_what(slf: &Bound<'_, Waiting>) -> &'static str {
    slf.try_borrow()
        .map_or("awaitable", |this| this.request.what)
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

impl Waiting {
    /// An await of `request` on `buffer`, armed when a task first awaits it.
    pub fn new(buffer: Py<PyBuffer>, request: Request) -> Self {
        Self {
            armed: None,
            request,
            buffer,
            fut: None,
            timer: None,
            deadline: None,
            hub: None,
            started: false,
            finished: false,
        }
    }

    /// Borrows the await for a step from outside; `RuntimeError` when it is inside its own
    /// step already (re-entered from Python code the step runs).
    fn enter<'py>(slf: &Bound<'py, Self>) -> PyResult<PyRefMut<'py, Self>> {
        slf.try_borrow_mut().map_err(|_| executing(slf_what(slf)))
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

    /// The deadline of this await, reading the buffer's timeout the first time.
    fn deadline(&mut self, py: Python<'_>) -> PyResult<Option<Instant>> {
        if let Some(d) = self.deadline {
            return Ok(d);
        }
        let timeout: Option<f64> = self
            .buffer
            .bind(py)
            .call_method0(pyo3::intern!(py, "gettimeout"))?
            .extract()?;
        let d = deadline(args::timeout(timeout)?);
        self.deadline = Some(d);
        Ok(d)
    }

    /// One step of `__next__` with the await borrowed: completes (as `Err`, a `StopIteration`
    /// or the read's error) or arms and returns the loop future, the waker's id and the hub
    /// to register it with (after the borrow ends).
    fn step<'py>(
        slf: &Bound<'py, Self>,
        this: &mut PyRefMut<'py, Self>,
    ) -> PyResult<(Py<PyAny>, u64, Bound<'py, Hub>)> {
        let py = slf.py();
        this.disarm(py)?;
        let buffer = this.buffer.clone_ref(py);
        loop {
            if let Some(outcome) = this.request.attempt(py, buffer.get()) {
                return Err(match outcome {
                    Ok(value) => stop_iteration(value),
                    Err(error) => error,
                });
            }
            let deadline = this.deadline(py)?;
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(timed_out(this.request.what));
            }
            let event_loop = running_loop(py)?;
            let hub = Hub::of(&event_loop)?;
            let (id, waker) = hub.get().waker();
            let mut armed = Armed::new(buffer.bind(py), &this.request, id, waker);
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
                this.timer = Some(timer.unbind());
            }
            this.armed = Some(armed);
            this.fut = Some(fut.clone().unbind());
            this.hub = Some(hub.clone().unbind());
            return Ok((fut.unbind(), id, hub));
        }
    }

    /// Called by the hub when the waker fired: re-polls; `Some(true)` when resolved (the
    /// future is then done), `Some(false)` when re-armed on a new listener, `None` when the
    /// await is busy (borrowed) and must be looked at again.
    pub fn on_wake(waiting: &Bound<'_, Waiting>) -> PyResult<Option<bool>> {
        let resolved = {
            let Ok(mut this) = waiting.try_borrow_mut() else {
                return Ok(None);
            };
            match this.armed.as_mut() {
                Some(armed) => armed.poll(),
                None => true,
            }
        };
        if resolved {
            Self::resolve(waiting)?;
        }
        Ok(Some(resolved))
    }

    /// Resolves the loop future (the task resumes and attempts the read again).
    pub fn resolve(waiting: &Bound<'_, Waiting>) -> PyResult<()> {
        let py = waiting.py();
        let fut = {
            let mut this = Self::enter(waiting)?;
            this.armed = None;
            this.fut.as_ref().map(|f| f.clone_ref(py))
        };
        if let Some(fut) = fut {
            let fut = fut.bind(py);
            if !fut.call_method0(pyo3::intern!(py, "done"))?.is_truthy()? {
                fut.call_method1(pyo3::intern!(py, "set_result"), (py.None(),))?;
            }
        }
        Ok(())
    }
}

#[pymethods]
impl Waiting {
    fn __await__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        {
            let this = Self::enter(&slf)?;
            if this.finished {
                return Err(reused(this.request.what));
            }
            if this.started {
                return Err(awaited_already(this.request.what));
            }
        }
        Ok(slf)
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Attempts the read; completes (`StopIteration(value)` or the read's error) or arms and
    /// yields a loop future to the task.
    fn __next__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let mut this = Self::enter(slf)?;
        if this.finished {
            return Err(reused(this.request.what));
        }
        if let Some(fut) = &this.fut {
            // Only the awaiting task resumes it, and only once its future is done.
            if !fut
                .bind(py)
                .call_method0(pyo3::intern!(py, "done"))?
                .is_truthy()?
            {
                return Err(awaited_already(this.request.what));
            }
        }
        this.started = true;
        let stepped = Self::step(slf, &mut this);
        if stepped.is_err() {
            this.finished = true;
        }
        drop(this);
        let (fut, id, hub) = stepped?;
        hub.get().insert(id, slf.clone().unbind());
        Ok(fut)
    }

    /// Generator protocol (`yield from` delegation): a sent value is ignored.
    fn send(slf: &Bound<'_, Self>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::__next__(slf)
    }

    /// Cancellation (and any exception thrown into the awaiting coroutine): disarms without
    /// taking anything, then raises the exception (checked as `coroutine.throw` checks it).
    #[pyo3(signature = (typ, val=None, _tb=None))]
    fn throw(
        slf: &Bound<'_, Self>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let mut this = Self::enter(slf)?;
        if this.finished {
            return Err(reused(this.request.what));
        }
        this.finished = true;
        this.disarm(py)?;
        Err(thrown(typ, val))
    }

    /// The awaiting coroutine was closed: disarms without taking anything.
    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let mut this = Self::enter(slf)?;
        this.finished = true;
        this.disarm(slf.py())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.buffer)?;
        visit.call(&self.fut)?;
        visit.call(&self.timer)?;
        visit.call(&self.hub)?;
        if let crate::aio::request::Want::Into(target) = &self.request.want {
            visit.call(target)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.armed = None;
        self.fut = None;
        self.timer = None;
        self.hub = None;
    }
}
