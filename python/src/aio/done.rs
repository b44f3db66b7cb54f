//! The awaitable of a read whose data was already there: completes at once.
//!
//! `await` calls `__await__` (itself) and then `__next__`, which raises
//! `StopIteration(value)` (or the read's error) straight away: the awaiting coroutine goes on
//! without yielding to the event loop.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

/// A completed read, awaitable (and re-awaitable: it yields the same outcome each time).
#[pyclass(frozen, module = "py_buffer._native")]
pub struct Done {
    outcome: PyResult<Py<PyAny>>,
}

impl Done {
    /// An awaitable resolving to `outcome` at once.
    pub fn new(outcome: PyResult<Py<PyAny>>) -> Self {
        Self { outcome }
    }
}

/// The error that ends an awaitable's iteration with `value` as the `await` result.
pub fn stop_iteration(value: Py<PyAny>) -> PyErr {
    PyStopIteration::new_err((value,))
}

#[pymethods]
impl Done {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.outcome {
            Ok(value) => Err(stop_iteration(value.clone_ref(py))),
            Err(error) => Err(error.clone_ref(py)),
        }
    }

    /// Generator protocol: only `None` can be sent; the outcome comes at once.
    fn send(&self, py: Python<'_>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__next__(py)
    }

    /// Generator protocol: nothing to clean up.
    fn close(&self) {}
}
