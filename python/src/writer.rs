//! `BufferWriter`: the producer's handle, for Python code that feeds a buffer.
//!
//! `write` appends all of its argument, waiting with the GIL released while bounded mode is
//! full (a write larger than the bound completes in pieces as the reader drains); `try_write`
//! never waits and says how much it took. Dropping the last handle without `close()` aborts the
//! body, so a reader is never left waiting for a producer that is gone.

use std::time::Duration;

use py_buffer_core::{AbortReason, Writer};
use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::adopt::{adopt, ADOPT_MIN};
use crate::args::{self, ByteSource};
use crate::errors::{timed_out, to_py};
use crate::wait::{deadline, park};

/// Records on `error` how many bytes went in before it (`characters_written`, as
/// `BlockingIOError` does), whatever the exception (timeout, `KeyboardInterrupt` from a signal
/// handler, `BrokenPipeError`, `BodyAborted`): the caller must know what prefix the reader got.
fn with_count(py: Python<'_>, error: PyErr, written: usize) -> PyErr {
    // An exception type that refuses attributes keeps its own message; nothing to add then.
    let _ = error.value(py).setattr("characters_written", written);
    error
}

/// The producer handle of a `PyBuffer`.
#[pyclass(frozen, weakref, module = "py_buffer._native", name = "BufferWriter")]
pub struct BufferWriter {
    writer: Writer,
}

impl BufferWriter {
    /// Wraps a core writer handle.
    pub fn new(writer: Writer) -> Self {
        Self { writer }
    }

    /// The core writer behind this object.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Writes `total` bytes by calling `step` (which writes what fits now and says how much),
    /// waiting for room between steps with the GIL released.
    fn write_all(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
        total: usize,
        mut step: impl FnMut(&Writer) -> py_buffer_core::Result<usize>,
    ) -> PyResult<usize> {
        let mut done = step(&self.writer).map_err(to_py)?;
        if done == total {
            return Ok(total);
        }
        let deadline = deadline(timeout);
        loop {
            let mut room = self.writer.wait_writable();
            let stepped = match park(py, &mut room, deadline, "write()") {
                Ok(result) => result.and_then(|()| step(&self.writer)).map_err(to_py),
                Err(e) if e.is_instance_of::<PyTimeoutError>(py) => Err(timed_out("write()")),
                Err(e) => Err(e),
            };
            match stepped {
                Ok(n) => done += n,
                Err(e) => return Err(with_count(py, e, done)),
            }
            if done == total {
                return Ok(total);
            }
        }
    }
}

#[pymethods]
impl BufferWriter {
    /// Appends all of `data` (any bytes-like object) and returns its length.
    ///
    /// In bounded mode, waits with the GIL released until the reader makes room; raises
    /// `TimeoutError` when `timeout` seconds pass first. Any exception raised after a prefix
    /// was written (timeout, `KeyboardInterrupt`, `BrokenPipeError`, `BodyAborted`) carries
    /// that prefix's length as `characters_written`. A bad `timeout` raises before anything is
    /// written. A `bytes` object of 4 KiB or more is
    /// kept by reference instead of copied where the buffer keeps whole blocks.
    #[pyo3(signature = (data, timeout=None))]
    fn write(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        // Validated before anything is written: a bad timeout writes nothing.
        let timeout = args::timeout(timeout)?;
        if let Ok(bytes) = data.cast_exact::<PyBytes>() {
            let total = bytes.as_bytes().len();
            if total >= ADOPT_MIN {
                let mut rest = adopt(bytes);
                return self.write_all(py, timeout, total, |writer| {
                    writer.try_write_bytes(&mut rest)
                });
            }
        }
        let source = ByteSource::new(data, "data")?;
        let total = source.as_slice(py).len();
        let mut offset = 0;
        self.write_all(py, timeout, total, |writer| {
            let n = writer.try_write(&source.as_slice(py)[offset..])?;
            offset += n;
            Ok(n)
        })
    }

    /// Appends as much of `data` as fits now (all of it unless bounded mode is full) and
    /// returns how much; never waits.
    fn try_write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let source = ByteSource::new(data, "data")?;
        self.writer.try_write(source.as_slice(py)).map_err(to_py)
    }

    /// Waits (GIL released) until at least one byte could be written.
    #[pyo3(signature = (timeout=None))]
    fn wait_writable(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let deadline = deadline(args::timeout(timeout)?);
        let mut room = self.writer.wait_writable();
        park(py, &mut room, deadline, "wait_writable()")?.map_err(to_py)
    }

    /// Marks a clean end of body; idempotent. Readers get EOF (or `BodyTruncated` if a
    /// content length was announced and not reached).
    fn close(&self) -> PyResult<()> {
        self.writer.close().map_err(to_py)
    }

    /// Marks the body as failed: readers get `BodyAborted` once the bytes that arrived cannot
    /// satisfy them. The first reason wins.
    #[pyo3(signature = (reason=None))]
    fn abort(&self, reason: Option<String>) -> PyResult<()> {
        let reason = AbortReason::other(reason.unwrap_or_else(|| "aborted by the producer".into()));
        self.writer.abort(reason).map_err(to_py)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Closes the body, or aborts it if the block raised.
    #[pyo3(signature = (*args))]
    fn __exit__(&self, args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        let raised = args.get_item(0).is_ok_and(|t| !t.is_none());
        if raised {
            let reason = args
                .get_item(1)
                .and_then(|e| e.repr())
                .map(|r| r.to_string())
                .unwrap_or_else(|_| "exception in writer block".into());
            // The body may already have ended; the exception propagates either way.
            let _ = self.writer.abort(AbortReason::other(reason));
        } else {
            self.close()?;
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let info = self.writer.info();
        format!(
            "<py_buffer.BufferWriter written={} ended={}>",
            info.written, info.ended
        )
    }
}
