//! What an awaitable read asks for, and one attempt at it with the GIL held.
//!
//! A request is a core [`ReadKind`] plus what to make of the bytes taken ([`Want`]). The same
//! attempt runs at an awaitable's first step (ready data: it completes at once) and when a
//! woken task resumes; it either completes (a value or an error) or says "wait", and takes
//! nothing when it says "wait" or fails.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};

use py_buffer_core::{HangUp, Op, ReadKind, Ready};
use pyo3::exceptions::{PyEOFError, PyStopAsyncIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

use crate::aio::awaitable::{Listener, Outcome};
use crate::args::Target;
use crate::buffer::PyBuffer;
use crate::copy::bytes_from_slices;
use crate::errors::to_py;

/// What a read makes of the bytes it takes.
pub enum Want {
    /// `bytes` (`aread`, `aread1`, `areadline`).
    Bytes,
    /// `bytes`, and `StopAsyncIteration` instead of an empty result (`async for`, `achunks`).
    Item,
    /// Exactly `n` bytes; `asyncio.IncompleteReadError` at a clean EOF (`areadexactly`).
    Exactly(usize),
    /// Copied into a writable bytes-like object; resolves to the count (`areadinto`).
    Into(Py<PyAny>),
    /// Nothing taken; resolves to `None` once a read of the kind would not wait
    /// (`wait_readable`).
    Readable,
    /// Nothing taken; resolves to `None` once the reader is closed or the body aborted
    /// (`wait_hangup`).
    HangUp,
}

/// One awaitable read: its kind, what it makes of the bytes, and its name for errors.
pub struct Request {
    /// The core read.
    pub kind: ReadKind,
    /// What to make of the bytes.
    pub want: Want,
    /// The method's name, for `TimeoutError` messages.
    pub what: &'static str,
}

impl Request {
    /// Tries the request once; takes bytes only when it completes.
    pub fn attempt(&mut self, py: Python<'_>, buffer: &PyBuffer) -> Outcome {
        let reader = buffer.reader();
        let take_bytes = |kind: ReadKind| {
            reader
                .try_read_or_keep(kind, |slices| bytes_from_slices(py, &slices))
                .map(|r| r.map_err(to_py).and_then(|b| b))
        };
        match &self.want {
            Want::Bytes => take_bytes(self.kind).map(|r| r.map(|b| b.into_any().unbind())),
            Want::Item => take_bytes(self.kind).map(|r| {
                let b = r?;
                if b.as_bytes().is_empty() {
                    Err(PyStopAsyncIteration::new_err(()))
                } else {
                    Ok(b.into_any().unbind())
                }
            }),
            Want::Exactly(n) => {
                let n = *n;
                take_bytes(self.kind).map(|r| {
                    let b = r?;
                    if b.as_bytes().len() < n {
                        Err(incomplete(py, b, n))
                    } else {
                        Ok(b.into_any().unbind())
                    }
                })
            }
            Want::Into(target) => {
                let target = target.bind(py).clone();
                let (kind, outcome) = read_into(py, buffer, &target);
                self.kind = kind;
                outcome
            }
            Want::Readable => reader.ready(self.kind).try_now().map(|()| Ok(py.None())),
            Want::HangUp => reader.hung_up().try_now().map(|()| Ok(py.None())),
        }
    }

    /// Whether an attempt now would complete (with a value or an error), taking nothing.
    pub fn could_complete(&self, buffer: &PyBuffer) -> bool {
        let reader = buffer.reader();
        match self.want {
            Want::HangUp => reader.hung_up().try_now().is_some(),
            _ => reader.ready(self.kind).try_now().is_some(),
        }
    }

    /// The core operation that resolves when an attempt may complete, borrowing `buffer`.
    pub fn readiness<'a>(&self, buffer: &'a PyBuffer) -> Readiness<'a> {
        match self.want {
            Want::HangUp => Readiness::HangUp(buffer.reader().hung_up()),
            _ => Readiness::Ready(buffer.reader().ready(self.kind)),
        }
    }
}

/// `areadinto`: exports `target`, reads exactly its length (fewer at EOF) into it.
fn read_into(py: Python<'_>, buffer: &PyBuffer, target: &Bound<'_, PyAny>) -> (ReadKind, Outcome) {
    // SAFETY: an all-zero `Py_buffer` is a valid value (null pointers, zero sizes) for
    // `PyObject_GetBuffer` to fill.
    let mut view: pyo3::ffi::Py_buffer = unsafe { std::mem::zeroed() };
    let mut target = match Target::new(target, &mut view) {
        Ok(t) => t,
        Err(e) => return (ReadKind::Exact(0), Some(Err(e))),
    };
    let kind = ReadKind::Exact(target.len());
    if target.len() == 0 {
        return (
            kind,
            Some(Ok(0usize.into_pyobject(py).unwrap().into_any().unbind())),
        );
    }
    let outcome = buffer
        .reader()
        .try_read_with(kind, |slices| {
            slices.copy_to_slice(target.as_mut_slice(py));
            slices.len()
        })
        .map(|r| {
            r.map_err(to_py)
                .map(|n| n.into_pyobject(py).unwrap().into_any().unbind())
        });
    (kind, outcome)
}

/// `asyncio.IncompleteReadError(partial, expected)`.
fn incomplete(py: Python<'_>, partial: Bound<'_, PyBytes>, expected: usize) -> PyErr {
    static TYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let made = TYPE
        .get_or_try_init(py, || -> PyResult<_> {
            Ok(py
                .import("asyncio")?
                .getattr("IncompleteReadError")?
                .unbind())
        })
        .and_then(|t| t.bind(py).call1((partial, expected)));
    match made {
        Ok(error) => PyErr::from_value(error),
        Err(e) => PyEOFError::new_err(e.to_string()),
    }
}

/// The core operation an armed await polls.
pub enum Readiness<'a> {
    /// A read of some kind could complete or fail.
    Ready(Op<Ready<'a>>),
    /// The reader closed or the body aborted.
    HangUp(Op<HangUp<'a>>),
}

impl Listener for Readiness<'_> {
    fn poll(&mut self, waker: &Waker) -> bool {
        let mut cx = Context::from_waker(waker);
        match self {
            Readiness::Ready(op) => Pin::new(op).poll(&mut cx).is_ready(),
            Readiness::HangUp(op) => Pin::new(op).poll(&mut cx).is_ready(),
        }
    }
}
