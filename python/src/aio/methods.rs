//! The awaitable methods of `PyBuffer` (a second `#[pymethods]` block), and `achunks`' async
//! iterator.
//!
//! Each method builds a [`Request`] and looks, with the GIL held, whether it could complete:
//! data already there gives a [`Done`] awaitable (completed at its first step, no trip through
//! the loop), otherwise a [`Waiting`] one. Neither takes anything before it is stepped.
//! Semantics and errors are those of the blocking methods of the same name without the `a`.

use py_buffer_core::ReadKind;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::aio::done::Done;
use crate::aio::request::{Request, Want};
use crate::aio::waiting::{ReadAttempt, Waiting};
use crate::args;
use crate::buffer::PyBuffer;

/// The awaitable of `request` on `buffer`: one that completes at its first step if it could
/// complete now (nothing is taken before that step), else one that waits.
fn start(buffer: &Bound<'_, PyBuffer>, request: Request) -> PyResult<Py<PyAny>> {
    let py = buffer.py();
    let what = request.what;
    let attempt = ReadAttempt::new(buffer.clone().unbind(), request);
    Ok(if attempt.could_complete(buffer.get()) {
        Bound::new(py, Done::new(Box::new(attempt), what))?
            .into_any()
            .unbind()
    } else {
        Bound::new(py, Waiting::from(attempt))?.into_any().unbind()
    })
}

fn line(limit: Option<usize>) -> ReadKind {
    ReadKind::Until {
        delim: b'\n',
        limit,
    }
}

/// The default `achunks` / ASGI chunk size.
const CHUNK: usize = py_buffer_core::DEFAULT_CHUNK_SIZE;

/// An async iterator over a buffer's chunks (`PyBuffer.achunks`).
#[pyclass(frozen, module = "py_buffer._native")]
pub struct Chunks {
    buffer: Py<PyBuffer>,
    size: usize,
}

#[pymethods]
impl Chunks {
    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next chunk: between 1 and `size` bytes; `StopAsyncIteration` at EOF.
    fn __anext__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        start(
            self.buffer.bind(py),
            Request {
                kind: ReadKind::Available(self.size),
                want: Want::Item,
                what: "achunks()",
            },
        )
    }
}

#[pymethods]
impl PyBuffer {
    /// Awaitable `read`: `size` bytes (fewer only at EOF), or everything up to EOF.
    #[pyo3(signature = (size=-1), text_signature = "($self, size=-1)")]
    fn aread(slf: &Bound<'_, Self>, size: Option<isize>) -> PyResult<Py<PyAny>> {
        let kind = match args::size(size, "size")? {
            None => ReadKind::ToEnd,
            Some(n) => ReadKind::Exact(n),
        };
        start(
            slf,
            Request {
                kind,
                want: Want::Bytes,
                what: "aread()",
            },
        )
    }

    /// Awaitable `read1`: between 1 and `size` bytes, waiting only while none are there;
    /// empty at EOF.
    #[pyo3(signature = (size=-1), text_signature = "($self, size=-1)")]
    fn aread1(slf: &Bound<'_, Self>, size: Option<isize>) -> PyResult<Py<PyAny>> {
        let n = args::size(size, "size")?.unwrap_or(usize::MAX);
        start(
            slf,
            Request {
                kind: ReadKind::Available(n),
                want: Want::Bytes,
                what: "aread1()",
            },
        )
    }

    /// Awaitable `readline`: through `\n`, at most `size` bytes; the rest of the body at EOF.
    #[pyo3(signature = (size=-1), text_signature = "($self, size=-1)")]
    fn areadline(slf: &Bound<'_, Self>, size: Option<isize>) -> PyResult<Py<PyAny>> {
        let limit = args::size(size, "size")?;
        start(
            slf,
            Request {
                kind: line(limit),
                want: Want::Bytes,
                what: "areadline()",
            },
        )
    }

    /// Exactly `n` bytes, as `asyncio.StreamReader.readexactly`: at a clean EOF the bytes
    /// that arrived are taken and `asyncio.IncompleteReadError` raised.
    fn areadexactly(slf: &Bound<'_, Self>, n: isize) -> PyResult<Py<PyAny>> {
        let n = usize::try_from(n).map_err(|_| {
            pyo3::exceptions::PyValueError::new_err("readexactly size can not be less than zero")
        })?;
        start(
            slf,
            Request {
                kind: ReadKind::Exact(n),
                want: Want::Exactly(n),
                what: "areadexactly()",
            },
        )
    }

    /// Awaitable `readinto`: fills `b` (fewer bytes only at EOF); resolves to the count.
    fn areadinto(slf: &Bound<'_, Self>, b: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        start(
            slf,
            Request {
                kind: ReadKind::Exact(0),
                want: Want::Into(b.clone().unbind()),
                what: "areadinto()",
            },
        )
    }

    /// Resolves to `None` once a read would not wait (bytes there, or the body ended).
    fn wait_readable(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        start(
            slf,
            Request {
                kind: ReadKind::Available(1),
                want: Want::Readable,
                what: "wait_readable()",
            },
        )
    }

    /// Resolves to `None` once the reader is closed (`close()`) or the body aborted, even
    /// after the whole body was read: the end of the exchange (ASGI's `http.disconnect`).
    fn wait_hangup(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        start(
            slf,
            Request {
                kind: ReadKind::Immediate(0),
                want: Want::HangUp,
                what: "wait_hangup()",
            },
        )
    }

    /// An async iterator of chunks of at most `size` bytes (each as soon as there is data).
    #[pyo3(signature = (size=CHUNK), text_signature = "($self, size=65536)")]
    fn achunks(slf: &Bound<'_, Self>, size: usize) -> PyResult<Chunks> {
        if size == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "size must be a positive integer",
            ));
        }
        Ok(Chunks {
            buffer: slf.clone().unbind(),
            size,
        })
    }

    /// An ASGI `receive` callable reading this buffer (`py_buffer.asgi.receive(self)`).
    #[pyo3(signature = (*, chunk_size=CHUNK), text_signature = "($self, *, chunk_size=65536)")]
    fn asgi_receive<'py>(slf: &Bound<'py, Self>, chunk_size: usize) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        static RECEIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let receive = RECEIVE.get_or_try_init(py, || -> PyResult<_> {
            Ok(py.import("py_buffer.asgi")?.getattr("receive")?.unbind())
        })?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("chunk_size", chunk_size)?;
        receive.bind(py).call((slf,), Some(&kwargs))
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next line; `StopAsyncIteration` at EOF.
    fn __anext__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        start(
            slf,
            Request {
                kind: line(None),
                want: Want::Item,
                what: "__anext__()",
            },
        )
    }
}
