//! Line reads called by CPython directly: `for line in buf` (`PyBuffer`'s `tp_iternext` slot)
//! and `buf.readline()` (a raw `METH_FASTCALL` method).
//!
//! PyO3's slot for `__next__` and its method wrappers go through its generic trampoline (a
//! panic guard, a GIL guard with its reference pool, an `Option` turned into `StopIteration`)
//! and, for methods, its argument parser: together they cost as much as the read of an 80-byte
//! line itself. [`install_fast_next`] swaps in [`buffer_next`], which does the same read
//! ([`PyBuffer::next_line`]) and ends the iteration as C iterators do: a null return with no
//! exception set. [`install_fast_readline`] replaces the `readline` method descriptor with one
//! whose C function ([`buffer_readline`]) reads the arguments of the common calls itself
//! (none, `None`, an `int`: what `io.BytesIO.readline` parses) and hands every other call
//! (keywords, other types, too many arguments) to PyO3's own function, so arguments are
//! checked and worded exactly as before. Measured in `benches/python/run.py` (line iteration),
//! `benches/python/bench_readline.py` and `benches/erlang/seed_compare.escript`.

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use pyo3::exceptions::PySystemError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::args;
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

/// PyO3's C function of `readline`, kept for the calls [`buffer_readline`] does not parse.
static PYO3_READLINE: OnceLock<ffi::PyCFunctionFastWithKeywords> = OnceLock::new();

/// The name of the method replaced.
const READLINE: &CStr = c"readline";

/// The `size` of a call [`buffer_readline`] parses itself: `Some(None)` for no argument or
/// `None`, `Some(Some(n))` for an exact `int` that fits an `isize`; `None` for any other call.
///
/// # Safety
/// The GIL is held; `args` points to `nargs` live objects.
unsafe fn simple_size(
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> Option<Option<isize>> {
    if !kwnames.is_null() {
        return None;
    }
    match nargs {
        0 => Some(None),
        1 => {
            // SAFETY: `nargs` is 1, so `args[0]` is a live object (the caller's contract).
            let arg = unsafe { *args };
            // SAFETY: the GIL is held; `Py_None` only reads the singleton's address.
            if arg == unsafe { ffi::Py_None() } {
                return Some(None);
            }
            // SAFETY: the GIL is held and `arg` is a live object.
            if unsafe { ffi::PyLong_CheckExact(arg) } == 0 {
                return None;
            }
            // SAFETY: the GIL is held and `arg` is a live `int`.
            let n = unsafe { ffi::PyLong_AsSsize_t(arg) };
            // SAFETY: the GIL is held.
            if n == -1 && unsafe { !ffi::PyErr_Occurred().is_null() } {
                // Too large for an `isize`: PyO3's function raises its own `OverflowError`.
                // SAFETY: the GIL is held; clears the error just raised.
                unsafe { ffi::PyErr_Clear() };
                return None;
            }
            Some(Some(n))
        }
        _ => None,
    }
}

/// `PyBuffer.readline`'s C function (`METH_FASTCALL | METH_KEYWORDS`): the same read as the
/// PyO3 method, whose function it calls for any call form it does not parse.
///
/// # Safety
/// Called by CPython's method descriptor: the GIL is held, `slf` is a live `PyBuffer` (or a
/// subclass instance: the descriptor checks the type), `args` points to `nargs` live objects
/// and `kwnames` is null or a tuple of keyword names whose values follow them.
unsafe extern "C" fn buffer_readline(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: forwarded from this function's own contract.
    let Some(size) = (unsafe { simple_size(args, nargs, kwnames) }) else {
        let pyo3_readline = PYO3_READLINE
            .get()
            .expect("installed together with this function");
        // SAFETY: the same call CPython would have made to PyO3's function, which this one
        // replaces.
        return unsafe { pyo3_readline(slf, args, nargs, kwnames) };
    };
    // SAFETY: CPython calls methods with the GIL held (the thread is attached).
    let py = unsafe { Python::assume_attached() };
    // SAFETY: the descriptor only calls this with a `PyBuffer` (or subclass instance) as `slf`,
    // borrowed for the duration of the call.
    let buffer = unsafe { Borrowed::from_ptr(py, slf).cast_unchecked::<PyBuffer>() };
    // A panic must not unwind into CPython: it becomes a `SystemError`.
    let result = catch_unwind(AssertUnwindSafe(|| {
        buffer.get().read_line(py, args::size(size, "size")?)
    }))
    .unwrap_or_else(|_| {
        Err(PySystemError::new_err(
            "py_buffer: panic while reading a line",
        ))
    });
    match result {
        Ok(line) => line.into_ptr(),
        Err(error) => {
            error.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// Installs [`buffer_readline`] as `PyBuffer.readline` (when the module initialises), keeping
/// PyO3's function for the other call forms. Leaves PyO3's method in place if it is not the
/// `METH_FASTCALL | METH_KEYWORDS` function it is expected to be; does nothing if installed.
pub fn install_fast_readline(py: Python<'_>) -> PyResult<()> {
    let ty: Bound<'_, PyType> = py.get_type::<PyBuffer>();
    let tp = ty.as_type_ptr();
    let flags = ffi::METH_FASTCALL | ffi::METH_KEYWORDS;
    // SAFETY: `tp` is `PyBuffer`'s heap type object, alive for the interpreter's life (the
    // `Bound` holds a reference meanwhile); its `tp_dict` is its own dictionary (heap types
    // have no per-interpreter copy). The entry read is checked to be a method descriptor
    // before it is read as one, and its `PyMethodDef` (PyO3's, leaked for the process's life)
    // before its function is taken. The new `PyMethodDef` is leaked, so it outlives the
    // descriptor that points to it. Replacing a method of the type at module initialisation,
    // before any call, with one of the same name, flags, documentation and meaning is what
    // `PyType_Modified` is for (it invalidates cached lookups).
    unsafe {
        let dict = (*tp).tp_dict;
        let found = ffi::PyDict_GetItemString(dict, READLINE.as_ptr());
        if found.is_null() || ffi::Py_TYPE(found) != std::ptr::addr_of_mut!(ffi::PyMethodDescr_Type)
        {
            return Ok(());
        }
        let def = (*found.cast::<ffi::PyMethodDescrObject>()).d_method;
        if (*def).ml_flags != flags {
            return Ok(());
        }
        let original = (*def).ml_meth.PyCFunctionFastWithKeywords;
        if original as *const () == buffer_readline as *const () {
            return Ok(()); // installed already (the module initialised again)
        }
        PYO3_READLINE.get_or_init(|| original);
        let fast: &'static mut ffi::PyMethodDef = Box::leak(Box::new(ffi::PyMethodDef {
            ml_name: (*def).ml_name,
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunctionFastWithKeywords: buffer_readline,
            },
            ml_flags: flags,
            ml_doc: (*def).ml_doc,
        }));
        let descr = Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(tp, fast))?;
        if ffi::PyDict_SetItemString(dict, READLINE.as_ptr(), descr.as_ptr()) != 0 {
            return Err(PyErr::fetch(py));
        }
        ffi::PyType_Modified(tp);
    }
    Ok(())
}
