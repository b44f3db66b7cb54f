//! Building the `bytes` a read returns: one allocation and one copy straight from the
//! buffer's blocks.
//!
//! Called while the buffer's lock is held, so it must not run Python code: it only allocates
//! `bytes` objects, which are not tracked by the cycle collector and so never trigger a
//! collection (and with it arbitrary finalizers) on allocation.

use py_buffer_core::Slices;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A new `bytes` holding a copy of `data` (no zero-fill first, unlike `PyBytes::new_with`).
pub fn bytes_from_slices<'py>(py: Python<'py>, data: &Slices<'_>) -> PyResult<Bound<'py, PyBytes>> {
    let len = data.len();
    if len == 0 {
        return Ok(PyBytes::new(py, b""));
    }
    let len_ssize = pyo3::ffi::Py_ssize_t::try_from(len)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("read too large"))?;
    // SAFETY: a null source asks CPython for an uninitialised `bytes` of `len` bytes, which
    // we own (or an error, checked by `assume_owned_or_err`). The GIL is held (`py`).
    let object = unsafe {
        let ptr = pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), len_ssize);
        Bound::from_owned_ptr_or_err(py, ptr)?
    };
    // SAFETY: `object` is a fresh `bytes` of exactly `len` bytes that nobody else has seen
    // yet, so writing its storage is allowed; every byte is written by `copy_to_slice` before
    // the object escapes.
    let dst = unsafe {
        let start = pyo3::ffi::PyBytes_AsString(object.as_ptr()).cast::<u8>();
        std::slice::from_raw_parts_mut(start, len)
    };
    data.copy_to_slice(dst);
    // SAFETY: `PyBytes_FromStringAndSize` returned a `bytes` object.
    Ok(unsafe { object.cast_into_unchecked() })
}

/// A new `bytes` holding a copy of `data`.
pub fn bytes_from_slice<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, data)
}
