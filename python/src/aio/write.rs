//! asyncio writes: `await writer.awrite(data)` and `await writer.await_writable()`.
//!
//! The writer's side of [`crate::aio`]: a write appends what fits at once (with the GIL held,
//! as `try_write` does); if bounded mode is full it polls the core's "room" operation with a
//! hub waker and yields a loop future ([`Writing`]: the protocol of
//! [`crate::aio::awaitable`], so awaited once like a read). The reader's drain wakes the hub (the loop's
//! doorbell, never the GIL on the reader's thread); the loop resolves the future, the task
//! resumes and appends more. A write that finds room returns a [`Done`] awaitable, which
//! writes at its first step (no trip through the loop unless the room is gone by then);
//! nothing is written before an await is first stepped.
//!
//! Cancellation (or any exception thrown in) disarms the listener and re-raises with the
//! exception's `characters_written` set to the bytes already appended (as `BlockingIOError`
//! reports a partial write); so does an error from the buffer (reader closed, aborted). That is
//! the exception raised at the `await`: before Python 3.11 a task's outside awaiter gets a
//! fresh `CancelledError` instead.
//! `awrite` has no `timeout`: wrap it in `asyncio.wait_for` / `asyncio.timeout`, whose
//! cancellation reports the count.

use py_buffer_core::{Bytes, Op, Room};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::{PyTraverseError, PyVisit};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};

use crate::adopt::{adopt, ADOPT_MIN};
use crate::aio::awaitable::{awaitable_methods, Attempt, Awaitable, Host, Listener, Outcome};
use crate::aio::done::{Done, Pending};
use crate::aio::hub::Parked;
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

impl Listener for Op<Room<'_>> {
    fn poll(&mut self, waker: &Waker) -> bool {
        let mut cx = Context::from_waker(waker);
        Pin::new(self).poll(&mut cx).is_ready()
    }
}

/// A write (or a wait for room) on a writer, attempted at each step.
pub struct WriteAttempt {
    writer: Py<BufferWriter>,
    data: Data,
    /// Bytes appended so far.
    done: usize,
    /// The method's name, for errors.
    what: &'static str,
}

/// Sets `characters_written` on `error`'s value (best effort) and returns it.
fn with_count(py: Python<'_>, error: PyErr, done: usize) -> PyErr {
    let _ = error
        .value(py)
        .setattr(pyo3::intern!(py, "characters_written"), done);
    error
}

impl Attempt for WriteAttempt {
    type Owner = BufferWriter;

    fn what(&self) -> &'static str {
        self.what
    }

    fn owner(&self) -> &Py<BufferWriter> {
        &self.writer
    }

    /// Appends what fits. Completes with the total count (`None` for `await_writable`) or
    /// the error (with `characters_written`), or waits for room.
    fn attempt(&mut self, py: Python<'_>) -> Outcome {
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

    /// The core's "room" operation: resolves once a write may proceed (or would fail).
    fn listen<'a>(&self, writer: &'a BufferWriter) -> Box<dyn Listener + 'a> {
        Box::new(writer.writer().wait_writable())
    }

    /// The exception carries `characters_written`: the bytes appended before it.
    fn thrown(&self, py: Python<'_>, error: PyErr) -> PyErr {
        with_count(py, error, self.done)
    }

    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.writer)?;
        if let Data::Object { object, .. } = &self.data {
            visit.call(object)?;
        }
        Ok(())
    }
}

/// An `awrite` / `await_writable` that had to wait, awaitable once.
#[pyclass(module = "py_buffer._native")]
pub struct Writing {
    awaitable: Awaitable<WriteAttempt>,
}

impl Writing {
    /// The awaitable of a write of `data` (or of a wait for room) on `writer`, named `what`:
    /// completed if it can complete now.
    fn start(
        writer: &Bound<'_, BufferWriter>,
        data: Data,
        what: &'static str,
    ) -> PyResult<Py<PyAny>> {
        let py = writer.py();
        let attempt = WriteAttempt {
            writer: writer.clone().unbind(),
            data,
            done: 0,
            what,
        };
        // Nothing is written before the first step: a write cancelled before it wrote nothing
        // (its exception says `characters_written` 0). Only the choice of awaitable is made
        // now; either one is right whatever happens before the step.
        let completes = completes_now(py, writer.get(), &attempt.data);
        Ok(if completes {
            Bound::new(py, Done::new(Box::new(attempt), what))?
                .into_any()
                .unbind()
        } else {
            Bound::new(
                py,
                Writing {
                    awaitable: Awaitable::new(attempt),
                },
            )?
            .into_any()
            .unbind()
        })
    }
}

/// Whether a first attempt would complete (all of `data` fits, or one byte for
/// `await_writable`, or the write would fail): a [`Done`] then completes it at its first step;
/// else a [`Writing`] appends what fits there and waits for the rest. A guess (the length of
/// an object other than `bytes` is its `len()`): a wrong one costs a delegation, never bytes.
fn completes_now(py: Python<'_>, writer: &BufferWriter, data: &Data) -> bool {
    let info = writer.writer().info();
    if info.closed || info.aborted.is_some() || info.reader_closed {
        return true;
    }
    let Some(max) = info.max_buffered else {
        return true;
    };
    let room = (max as u64).saturating_sub(info.unread.saturating_sub(info.set_aside));
    let wanted = match data {
        Data::Nothing => 1,
        Data::Owned(rest) => rest.len(),
        Data::Object { object, .. } => object.bind(py).len().unwrap_or(usize::MAX),
    };
    room >= wanted as u64
}

impl Pending for WriteAttempt {
    fn attempt(&mut self, py: Python<'_>) -> Outcome {
        Attempt::attempt(self, py)
    }

    fn thrown(&self, py: Python<'_>, error: PyErr) -> PyErr {
        with_count(py, error, self.done)
    }

    fn into_waiting(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let writing = Writing {
            awaitable: Awaitable::new(*self),
        };
        Ok(Bound::new(py, writing)?.into_any().unbind())
    }
}

impl Host for Writing {
    type Attempt = WriteAttempt;

    fn awaitable(&self) -> &Awaitable<WriteAttempt> {
        &self.awaitable
    }

    fn awaitable_mut(&mut self) -> &mut Awaitable<WriteAttempt> {
        &mut self.awaitable
    }

    fn parked(slf: Py<Self>) -> Parked {
        Parked::Write(slf)
    }
}

awaitable_methods!(Writing);

#[pymethods]
impl Writing {
    /// Bytes appended so far.
    #[getter]
    fn characters_written(&self) -> usize {
        self.awaitable.attempt.done
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
        Writing::start(slf, data, "awrite()")
    }

    /// Awaitable wait for room: resolves to `None` once at least one byte could be written,
    /// or raises the error a write would get (the blocking form is `wait_writable`).
    fn await_writable(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Writing::start(slf, Data::Nothing, "await_writable()")
    }
}
