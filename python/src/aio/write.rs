//! asyncio writes: `await writer.awrite(data)` and `await writer.await_writable()`.
//!
//! The writer's side of [`crate::aio`]: a write appends what fits at once (with the GIL held,
//! as `try_write` does); if bounded mode is full it polls the core's "room" operation with a
//! [`Hub`] waker and yields a loop future. The reader's drain wakes the hub (the loop's
//! doorbell, never the GIL on the reader's thread); the loop resolves the future, the task
//! resumes and appends more. A write that completes at once returns a [`Done`] awaitable (no
//! trip through the loop).
//!
//! Cancellation (or any exception thrown in) disarms the listener and re-raises with the
//! exception's `characters_written` set to the bytes already appended (as `BlockingIOError`
//! reports a partial write); so does an error from the buffer (reader closed, aborted). That is
//! the exception raised at the `await`: before Python 3.11 a task's outside awaiter gets a
//! fresh `CancelledError` instead.
//! `awrite` has no `timeout`: wrap it in `asyncio.wait_for` / `asyncio.timeout`, whose
//! cancellation reports the count.

use py_buffer_core::{Bytes, Op, Room};
use pyo3::exceptions::PyBaseException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;
use pyo3::{PyTraverseError, PyVisit};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};

use crate::adopt::{adopt, ADOPT_MIN};
use crate::aio::done::{stop_iteration, Done};
use crate::aio::hub::Hub;
use crate::args::ByteSource;
use crate::errors::to_py;
use crate::writer::BufferWriter;

/// What is left to write.
enum Data {
    /// `await_writable`: nothing; resolves to `None` once one byte would fit.
    Nothing,
    /// A large exact `bytes` object, kept by reference; the accepted front is split off.
    Owned(Bytes),
    /// Any other bytes-like object, borrowed anew at each attempt (so no export is held
    /// while the task is suspended), from `offset` on.
    Object { object: Py<PyAny>, offset: usize },
}

/// A "room" operation parked on the core's listener.
struct Armed {
    /// Declared first, so dropped before `_writer`, whose core writer it borrows.
    op: Op<Room<'static>>,
    id: u64,
    waker: Waker,
    /// Keeps the `BufferWriter` (and so the state `op` borrows) alive.
    _writer: Py<BufferWriter>,
}

impl Armed {
    fn new(writer: &Bound<'_, BufferWriter>, id: u64, waker: Waker) -> Self {
        let owner = writer.clone().unbind();
        let op = owner.get().writer().wait_writable();
        // SAFETY: `op` borrows the core writer of the frozen `BufferWriter` that `owner` keeps
        // alive. A Python object never moves and a frozen class's fields are never replaced,
        // so the borrowed state stays valid while `owner` lives. `owner` is stored next to
        // `op` and declared after it, so `op` (and its listener) is always dropped first, and
        // `op` is never handed out with the extended lifetime.
        let op = unsafe { std::mem::transmute::<Op<Room<'_>>, Op<Room<'static>>>(op) };
        Self {
            op,
            id,
            waker,
            _writer: owner,
        }
    }

    /// Polls the room operation: `true` when a write may proceed (or would fail).
    fn poll(&mut self) -> bool {
        let mut cx = Context::from_waker(&self.waker);
        Pin::new(&mut self.op).poll(&mut cx).is_ready()
    }
}

/// An `awrite` / `await_writable` that had to wait, awaitable once.
#[pyclass(module = "py_buffer._native")]
pub struct Writing {
    writer: Py<BufferWriter>,
    data: Data,
    /// Bytes appended so far.
    done: usize,
    armed: Option<Armed>,
    /// The loop future the task waits on while armed.
    fut: Option<Py<PyAny>>,
    hub: Option<Py<Hub>>,
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

/// Sets `characters_written` on `error`'s value (best effort) and returns it.
fn with_count(py: Python<'_>, error: PyErr, done: usize) -> PyErr {
    let _ = error
        .value(py)
        .setattr(pyo3::intern!(py, "characters_written"), done);
    error
}

impl Writing {
    /// One attempt: appends what fits. `Some(outcome)` when finished (the `await` result or
    /// the error), `None` when it must wait for room.
    fn attempt(&mut self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        let writer = self.writer.get().writer();
        let step = match &mut self.data {
            Data::Nothing => {
                return match writer.wait_writable().try_now() {
                    Some(Ok(())) => Some(Ok(py.None())),
                    Some(Err(e)) => Some(Err(to_py(e))),
                    None => None,
                }
            }
            Data::Owned(rest) => writer.try_write_bytes(rest).map(|n| (n, rest.is_empty())),
            Data::Object { object, offset } => {
                let source = match ByteSource::new(object.bind(py), "data") {
                    Ok(s) => s,
                    Err(e) => return Some(Err(e)),
                };
                let all = source.as_slice(py);
                let slice = &all[(*offset).min(all.len())..];
                writer.try_write(slice).map(|n| {
                    *offset += n;
                    (n, n == slice.len())
                })
            }
        };
        match step {
            Ok((n, finished)) => {
                self.done += n;
                if finished {
                    let total = self.done.into_pyobject(py).unwrap().into_any().unbind();
                    Some(Ok(total))
                } else {
                    None
                }
            }
            Err(e) => Some(Err(with_count(py, to_py(e), self.done))),
        }
    }

    /// Drops the listener and the hub's record.
    fn disarm(&mut self) {
        let removed = match (self.armed.take(), &self.hub) {
            (Some(armed), Some(hub)) => hub.get().remove(armed.id),
            _ => None,
        };
        drop(removed);
        self.fut = None;
    }

    /// Called by the hub when the waker fired: as [`crate::aio::waiting::Waiting::on_wake`].
    pub fn on_wake(writing: &Bound<'_, Writing>) -> PyResult<Option<bool>> {
        let resolved = {
            let Ok(mut this) = writing.try_borrow_mut() else {
                return Ok(None);
            };
            match this.armed.as_mut() {
                Some(armed) => armed.poll(),
                None => true,
            }
        };
        if resolved {
            Self::resolve(writing)?;
        }
        Ok(Some(resolved))
    }

    /// Resolves the loop future (the task resumes and writes again).
    pub fn resolve(writing: &Bound<'_, Writing>) -> PyResult<()> {
        let py = writing.py();
        let fut = {
            let mut this = writing.borrow_mut();
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

    /// The awaitable of a write of `data` (or of a wait for room): completed if it can
    /// complete now.
    fn start(writer: &Bound<'_, BufferWriter>, data: Data) -> PyResult<Py<PyAny>> {
        let py = writer.py();
        let mut writing = Writing {
            writer: writer.clone().unbind(),
            data,
            done: 0,
            armed: None,
            fut: None,
            hub: None,
        };
        Ok(match writing.attempt(py) {
            Some(outcome) => Bound::new(py, Done::new(outcome, "awrite()"))?
                .into_any()
                .unbind(),
            None => Bound::new(py, writing)?.into_any().unbind(),
        })
    }
}

#[pymethods]
impl Writing {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Writes what fits; completes (`StopIteration(count)` or the error) or arms and yields a
    /// loop future to the task.
    fn __next__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let mut this = slf.borrow_mut();
        this.disarm();
        loop {
            if let Some(outcome) = this.attempt(py) {
                return Err(match outcome {
                    Ok(value) => stop_iteration(value),
                    Err(error) => error,
                });
            }
            let event_loop = running_loop(py)?;
            let hub = Hub::of(&event_loop)?;
            let (id, waker) = hub.get().waker();
            let mut armed = Armed::new(this.writer.bind(py), id, waker);
            if armed.poll() {
                continue; // room appeared meanwhile: write again
            }
            let fut = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
            fut.setattr(pyo3::intern!(py, "_asyncio_future_blocking"), true)?;
            this.armed = Some(armed);
            this.fut = Some(fut.clone().unbind());
            this.hub = Some(hub.clone().unbind());
            drop(this);
            hub.get().insert(id, slf.clone().unbind());
            return Ok(fut.unbind());
        }
    }

    /// Generator protocol (`yield from` delegation): a sent value is ignored.
    fn send(slf: &Bound<'_, Self>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::__next__(slf)
    }

    /// Cancellation (any exception thrown into the awaiting coroutine): disarms and raises the
    /// exception with `characters_written` = the bytes appended so far.
    #[pyo3(signature = (typ, val=None, _tb=None))]
    fn throw(
        slf: &Bound<'_, Self>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let done = {
            let mut this = slf.borrow_mut();
            this.disarm();
            this.done
        };
        let error = if typ.is_instance_of::<PyBaseException>() {
            typ.clone()
        } else {
            match val {
                Some(v) if v.is_instance(typ)? => v.clone(),
                Some(v) if !v.is_none() => typ.call1((v,))?,
                _ => typ.call0()?,
            }
        };
        Err(with_count(py, PyErr::from_value(error), done))
    }

    /// The awaiting coroutine was closed: disarms.
    fn close(slf: &Bound<'_, Self>) {
        slf.borrow_mut().disarm();
    }

    /// Bytes appended so far.
    #[getter]
    fn characters_written(&self) -> usize {
        self.done
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.writer)?;
        visit.call(&self.fut)?;
        visit.call(&self.hub)?;
        if let Data::Object { object, .. } = &self.data {
            visit.call(object)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.armed = None;
        self.fut = None;
        self.hub = None;
    }
}

#[pymethods]
impl BufferWriter {
    /// Awaitable `write`: appends all of `data` (any bytes-like object), waiting without
    /// blocking the loop while bounded mode is full; resolves to the length. A cancelled
    /// await raises with `characters_written` set to the bytes appended before it.
    fn awrite(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let data = match data.cast_exact::<PyBytes>() {
            Ok(bytes) if bytes.as_bytes().len() >= ADOPT_MIN => Data::Owned(adopt(bytes)),
            _ => {
                ByteSource::new(data, "data")?; // type check now, not at the first await
                Data::Object {
                    object: data.clone().unbind(),
                    offset: 0,
                }
            }
        };
        Writing::start(slf, data)
    }

    /// Awaitable wait for room: resolves to `None` once at least one byte could be written,
    /// or raises the error a write would get (the blocking form is `wait_writable`).
    fn await_writable(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Writing::start(slf, Data::Nothing)
    }
}
