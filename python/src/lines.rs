//! `for line in buf`: `PyBuffer`'s `tp_iternext` slot, called by CPython directly.
//!
//! PyO3's slot for `__next__` goes through its generic trampoline (a panic guard, a GIL
//! guard with its reference pool, an `Option` turned into `StopIteration`), which costs as
//! much as the read of an 80-byte line itself. [`install_fast_next`] swaps in [`buffer_next`],
//! which does the same read ([`PyBuffer::next_line`]) and ends the iteration as C iterators
//! do: a null return with no exception set. Measured in `benches/python/run.py` (line
//! iteration) and `benches/erlang/seed_compare.escript`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PySystemError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::buffer::PyBuffer;

/// `PyBuffer`'s `tp_iternext`: the next line, or null with no exception at EOF, or null with
/// the read's error set.
///
/// # Safety
/// Called by CPython as a `tp_iternext` slot: the GIL is held and `slf` is a live `PyBuffer`
/// (or an instance of a subclass, which has the same layout up to `PyBuffer`'s fields).
unsafe extern "C" fn buffer_next(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls `tp_iternext` with the GIL held (the thread is attached).
    let py = unsafe { Python::assume_attached() };
    // SAFETY: this slot is installed on `PyBuffer`'s type only, so `slf` is a live
    // `PyBuffer` (or subclass instance), borrowed for the duration of the call.
    let buffer = unsafe { Borrowed::from_ptr(py, slf).cast_unchecked::<PyBuffer>() };
    // A panic must not unwind into CPython: it becomes a `SystemError`, as PyO3's own slots
    // turn panics into exceptions.
    let result =
        catch_unwind(AssertUnwindSafe(|| buffer.get().next_line(py))).unwrap_or_else(|_| {
            Err(PySystemError::new_err(
                "py_buffer: panic while reading a line",
            ))
        });
    match result {
        Ok(Some(line)) => line.into_ptr(),
        Ok(None) => std::ptr::null_mut(),
        Err(error) => {
            error.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// Installs [`buffer_next`] as `PyBuffer`'s `tp_iternext` (once, when the module initialises).
pub fn install_fast_next(py: Python<'_>) {
    let ty: Bound<'_, PyType> = py.get_type::<PyBuffer>();
    let tp = ty.as_type_ptr();
    // SAFETY: `tp` is `PyBuffer`'s heap type object, alive for the interpreter's life (the
    // `Bound` holds a reference meanwhile) and not yet used to iterate anything (module
    // initialisation). Replacing a slot function with one of the same signature and meaning
    // is allowed at the C level; `PyType_Modified` invalidates any cached lookups.
    unsafe {
        (*tp).tp_iternext = Some(buffer_next);
        ffi::PyType_Modified(tp);
    }
}
