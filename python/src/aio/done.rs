//! The awaitable of a read whose data was already there: completes at once.
//!
//! `await` calls `__await__` (itself) and then `__next__`, which raises
//! `StopIteration(value)` (or the read's error) straight away: the awaiting coroutine goes on
//! without yielding to the event loop.
//!
//! The interpreter's `await` calls the type's `tp_iternext` slot. PyO3's slot returns a lazily
//! built `PyErr`, which CPython must then turn into a `StopIteration` instance and back into
//! the value: most of an await's cost. [`install_fast_next`] swaps in [`done_next`], which sets
//! `StopIteration` with the value directly, as CPython's own C awaitables do (CPython 3.11
//! then never allocates the exception). Measured in `benches/python/bench_asyncio.py`.
//!
//! Like a coroutine, it is awaitable once: stepping it again (or awaiting it after its step,
//! `close()` or `throw()`) raises `RuntimeError("cannot reuse already awaited ...")`.
//!
//! An error outcome is handed over, not kept: once raised, the exception's traceback holds
//! the frames it passed through, and a frame may hold this awaitable (`asyncio.wait_for`
//! wraps it in a coroutine whose frame does), so a kept exception would close a reference
//! cycle through an object the collector cannot see into, and every object those frames
//! reference (the buffer read, its bytes) would leak. Found by the soak (`make soak`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::PyStopIteration;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::aio::throw::{reused, thrown};

/// What a completed read resolves to.
enum Outcome {
    /// The value, kept (bytes, a count or `None`: nothing that can refer back to the await).
    Value(Py<PyAny>),
    /// The error, taken by the one step that raises it (see the module doc).
    Error(Mutex<Option<PyErr>>),
}

/// A completed read, awaitable once.
#[pyclass(frozen, module = "py_buffer._native")]
pub struct Done {
    outcome: Outcome,
    /// The method's name, for the reuse error.
    what: &'static str,
    /// Stepped, closed or thrown into: awaiting it again is an error.
    used: AtomicBool,
}

impl Done {
    /// An awaitable resolving to `outcome` at once.
    pub fn new(outcome: PyResult<Py<PyAny>>, what: &'static str) -> Self {
        Self {
            outcome: match outcome {
                Ok(value) => Outcome::Value(value),
                Err(error) => Outcome::Error(Mutex::new(Some(error))),
            },
            what,
            used: AtomicBool::new(false),
        }
    }

    /// Marks the awaitable used; the error if it already was.
    fn first_use(&self) -> PyResult<()> {
        // Relaxed: every access holds the GIL, which orders them.
        if self.used.swap(true, Ordering::Relaxed) {
            return Err(reused(self.what));
        }
        Ok(())
    }

    /// The error to raise, taken (after [`Done::first_use`], so at most once).
    fn take_error(&self, error: &Mutex<Option<PyErr>>) -> PyErr {
        let taken = error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        taken.unwrap_or_else(|| reused(self.what))
    }
}

/// The error that ends an awaitable's iteration with `value` as the `await` result.
pub fn stop_iteration(value: Py<PyAny>) -> PyErr {
    PyStopIteration::new_err((value,))
}

#[pymethods]
impl Done {
    fn __await__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        if slf.get().used.load(Ordering::Relaxed) {
            return Err(reused(slf.get().what));
        }
        Ok(slf)
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.first_use()?;
        match &self.outcome {
            Outcome::Value(value) => Err(stop_iteration(value.clone_ref(py))),
            Outcome::Error(error) => Err(self.take_error(error)),
        }
    }

    /// Generator protocol: only `None` can be sent; the outcome comes at once.
    fn send(&self, py: Python<'_>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__next__(py)
    }

    /// Generator protocol: raises the exception (checked as `coroutine.throw` checks it); the
    /// read's outcome is dropped, as a coroutine's would be. After the step, `RuntimeError`.
    #[pyo3(signature = (typ, val=None, _tb=None))]
    fn throw(
        &self,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.first_use()?;
        Err(thrown(typ, val))
    }

    /// Generator protocol: nothing to clean up; it cannot be awaited afterwards.
    fn close(&self) {
        self.used.store(true, Ordering::Relaxed);
    }
}

/// `Done`'s `tp_iternext`: ends the iteration with the outcome, setting `StopIteration` with
/// the value itself rather than through a lazily built `PyErr`.
///
/// # Safety
/// Called by CPython as a `tp_iternext` slot: the GIL is held and `slf` is a live `Done`.
unsafe extern "C" fn done_next(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls `tp_iternext` with the GIL held (the thread is attached).
    let py = unsafe { Python::assume_attached() };
    // SAFETY: this slot is installed on `Done`'s type only, so `slf` is a live `Done`,
    // borrowed for the duration of the call.
    let done = unsafe { Borrowed::from_ptr(py, slf).cast_unchecked::<Done>() };
    if let Err(error) = done.get().first_use() {
        error.restore(py);
        return std::ptr::null_mut();
    }
    match &done.get().outcome {
        // A tuple would be taken as the exception's arguments: only other values go direct.
        Outcome::Value(value) if !value.bind(py).is_instance_of::<pyo3::types::PyTuple>() => {
            // SAFETY: the GIL is held; `PyErr_SetObject` takes its own references.
            unsafe { ffi::PyErr_SetObject(ffi::PyExc_StopIteration, value.as_ptr()) };
        }
        Outcome::Value(value) => stop_iteration(value.clone_ref(py)).restore(py),
        Outcome::Error(error) => done.get().take_error(error).restore(py),
    }
    std::ptr::null_mut()
}

/// Installs [`done_next`] as `Done`'s `tp_iternext` (once, when the module initialises).
pub fn install_fast_next(py: Python<'_>) {
    let ty: Bound<'_, PyType> = py.get_type::<Done>();
    let tp = ty.as_type_ptr();
    // SAFETY: `tp` is `Done`'s heap type object, alive for the interpreter's life (the
    // `Bound` holds a reference meanwhile) and not yet used to iterate anything (module
    // initialisation). Replacing a slot function with one of the same signature and meaning
    // is allowed at the C level; `PyType_Modified` invalidates any cached lookups.
    unsafe {
        (*tp).tp_iternext = Some(done_next);
        ffi::PyType_Modified(tp);
    }
}
