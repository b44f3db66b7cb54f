//! The awaitable of a read (or write) whose data (or room) was there when the method was
//! called: its first step completes it without yielding to the event loop.
//!
//! Nothing is taken or written before that step, as with a coroutine (`StreamReader.read()`):
//! an await cancelled before its first step (`wait_for(buf.aread(3), 0)`, a task cancelled
//! before it ran, a `gather` whose sibling failed), closed, or never awaited leaves every
//! byte for the next read. (It took the bytes when the method was called before: 24,515 of
//! 200,000 counters were lost by tasks cancelled at once; found by an audit.) If the data is
//! gone by the first step (another task read it), the await goes on as a waiting one (a
//! `Waiting` or `Writing` delegate that the later steps drive).
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
//! No outcome is kept: the value or error is made at the step that returns it. A kept error's
//! traceback holds the frames it passed through, and a frame may hold this awaitable
//! (`asyncio.wait_for` wraps it in a coroutine whose frame does), so a kept exception would
//! close a reference cycle through an object the collector cannot see into (found by the
//! soak, `make soak`, when errors were kept).

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyStopIteration;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::aio::awaitable::Outcome;
use crate::aio::throw::{executing, reused, thrown};

/// A read or write not attempted yet: [`Done`] attempts it at its first step.
pub trait Pending: Send + Sync {
    /// One try with the GIL held (as [`crate::aio::awaitable::Attempt::attempt`]).
    fn attempt(&mut self, py: Python<'_>) -> Outcome;

    /// The awaitable (`Waiting`, `Writing`) that waits for what the first try could not do.
    fn into_waiting(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>>;

    /// `error`, thrown in before the first step, as the `await` raises it (a write's says
    /// `characters_written`: 0).
    fn thrown(&self, _py: Python<'_>, error: PyErr) -> PyErr {
        error
    }
}

enum State {
    /// Not stepped yet: nothing taken or written.
    Fresh(Box<dyn Pending>),
    /// In its first step (Python code the attempt runs, such as a target's `__buffer__`, may
    /// try to drive it again: `RuntimeError`, as for a coroutine already executing).
    Executing,
    /// The first step had to wait after all: the await goes on in this awaitable.
    Delegated(Py<PyAny>),
    /// Stepped to its end, closed or thrown into.
    Used,
}

/// What one step gives the awaiting coroutine.
enum Step {
    /// The `await`'s value.
    Value(Py<PyAny>),
    /// A loop future to yield (the delegate waits).
    Yield(Py<PyAny>),
    /// The `await`'s exception (a delegate's `StopIteration` included).
    Error(PyErr),
}

/// A read or write whose data (or room) was there when the method was called, awaitable
/// once; it is attempted at its first step, so an await that is cancelled, closed or never
/// stepped takes and writes nothing.
#[pyclass(frozen, module = "py_buffer._native")]
pub struct Done {
    state: Mutex<State>,
    /// The method's name, for the reuse error.
    what: &'static str,
}

impl Done {
    /// An awaitable that attempts `pending` at its first step.
    pub fn new(pending: Box<dyn Pending>, what: &'static str) -> Self {
        Self {
            state: Mutex::new(State::Fresh(pending)),
            what,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the state, leaving `Used` (the lock is not held while Python code runs); a step
    /// in progress stays so, and driving it again is an error.
    fn take(&self) -> PyResult<State> {
        self.take_leaving(|_| State::Used)
    }

    /// As [`Done::take`], but a fresh state leaves `Executing`: its attempt is about to run.
    fn take_to_step(&self) -> PyResult<State> {
        self.take_leaving(|state| match state {
            State::Fresh(_) => State::Executing,
            _ => State::Used,
        })
    }

    fn take_leaving(&self, left: impl FnOnce(&State) -> State) -> PyResult<State> {
        let mut state = self.lock();
        if matches!(*state, State::Executing) {
            return Err(executing(self.what));
        }
        let left = left(&state);
        Ok(std::mem::replace(&mut *state, left))
    }

    /// One step: the first attempts; one that must wait hands the await to a delegate,
    /// which the later steps drive.
    fn step(&self, py: Python<'_>) -> Step {
        let state = match self.take_to_step() {
            Ok(state) => state,
            Err(error) => return Step::Error(error),
        };
        match state {
            State::Fresh(mut pending) => {
                let outcome = pending.attempt(py);
                *self.lock() = State::Used;
                match outcome {
                    Some(Ok(value)) => Step::Value(value),
                    Some(Err(error)) => Step::Error(error),
                    None => match pending.into_waiting(py) {
                        Ok(delegate) => self.delegate(py, delegate, |d| {
                            d.call_method0(pyo3::intern!(py, "__next__"))
                        }),
                        Err(error) => Step::Error(error),
                    },
                }
            }
            State::Delegated(delegate) => self.delegate(py, delegate, |d| {
                d.call_method0(pyo3::intern!(py, "__next__"))
            }),
            State::Executing | State::Used => Step::Error(reused(self.what)),
        }
    }

    /// Keeps `delegate` as the state and drives it one step with `call`.
    fn delegate<'py>(
        &self,
        py: Python<'py>,
        delegate: Py<PyAny>,
        call: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>>,
    ) -> Step {
        let bound = delegate.bind(py).clone();
        *self.lock() = State::Delegated(delegate);
        match call(&bound) {
            Ok(fut) => Step::Yield(fut.unbind()),
            Err(error) => Step::Error(error),
        }
    }
}

/// The error that ends an awaitable's iteration with `value` as the `await` result.
pub fn stop_iteration(value: Py<PyAny>) -> PyErr {
    PyStopIteration::new_err((value,))
}

#[pymethods]
impl Done {
    fn __await__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        match *slf.get().lock() {
            State::Used => Err(reused(slf.get().what)),
            State::Executing => Err(executing(slf.get().what)),
            _ => Ok(()),
        }?;
        Ok(slf)
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.step(py) {
            Step::Value(value) => Err(stop_iteration(value)),
            Step::Yield(fut) => Ok(fut),
            Step::Error(error) => Err(error),
        }
    }

    /// Generator protocol: the first step ignores the value (only `None` is sent to a fresh
    /// awaitable); later ones pass it to the delegate.
    fn send(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match self.take()? {
            State::Delegated(delegate) => {
                match self.delegate(py, delegate, |d| {
                    d.call_method1(pyo3::intern!(py, "send"), (value,))
                }) {
                    Step::Yield(fut) => Ok(fut),
                    Step::Value(value) => Err(stop_iteration(value)),
                    Step::Error(error) => Err(error),
                }
            }
            other => {
                *self.lock() = other;
                self.__next__(py)
            }
        }
    }

    /// Generator protocol: raises the exception (checked as `coroutine.throw` checks it).
    /// Before the first step nothing was attempted, so nothing is taken or written; after
    /// it, the delegate disarms (a write's exception then says `characters_written`).
    #[pyo3(signature = (typ, val=None, tb=None))]
    fn throw(
        &self,
        py: Python<'_>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match self.take()? {
            State::Fresh(pending) => Err(pending.thrown(py, thrown(typ, val))),
            State::Delegated(delegate) => {
                match self.delegate(py, delegate, |d| {
                    d.call_method1(pyo3::intern!(py, "throw"), (typ, val, tb))
                }) {
                    Step::Yield(fut) => Ok(fut),
                    Step::Value(value) => Err(stop_iteration(value)),
                    Step::Error(error) => Err(error),
                }
            }
            State::Executing | State::Used => Err(reused(self.what)),
        }
    }

    /// Generator protocol: a fresh awaitable is dropped unattempted; a delegate disarms. It
    /// cannot be awaited afterwards.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if let State::Delegated(delegate) = self.take()? {
            delegate.bind(py).call_method0(pyo3::intern!(py, "close"))?;
        }
        Ok(())
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
    match done.get().step(py) {
        // A tuple would be taken as the exception's arguments: only other values go direct.
        Step::Value(value) if !value.bind(py).is_instance_of::<pyo3::types::PyTuple>() => {
            // SAFETY: the GIL is held; `PyErr_SetObject` takes its own references.
            unsafe { ffi::PyErr_SetObject(ffi::PyExc_StopIteration, value.as_ptr()) };
        }
        Step::Value(value) => stop_iteration(value).restore(py),
        Step::Yield(fut) => return fut.into_ptr(),
        Step::Error(error) => error.restore(py),
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
