//! Argument conversion shared by the classes: sizes, timeouts, and bytes-like inputs.
//!
//! Bad arguments raise `ValueError` or `TypeError` with a message naming the argument, as the
//! `io` module does.

use std::time::Duration;

use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// A `size` argument: `None` or `-1` mean "no limit"; other negatives are refused.
pub fn size(value: Option<isize>, name: &str) -> PyResult<Option<usize>> {
    match value {
        None | Some(-1) => Ok(None),
        Some(n) if n < -1 => Err(PyValueError::new_err(format!(
            "{name} must be a non-negative integer, -1 or None, not {n}"
        ))),
        Some(n) => Ok(Some(n as usize)),
    }
}

/// A `start`/`end` argument of `find`, as `bytes.find` takes it: `None` (absent), or any
/// integer (anything with `__index__`); values beyond the machine's range clamp to its ends,
/// which are beyond any buffer.
pub fn slice_index(value: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<isize>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    match value.extract::<isize>() {
        Ok(index) => Ok(Some(index)),
        Err(err) if err.is_instance_of::<PyOverflowError>(value.py()) => {
            Ok(Some(if value.lt(0)? { isize::MIN } else { isize::MAX }))
        }
        Err(_) => Err(PyTypeError::new_err(format!(
            "{name} must be an integer or None, not {}",
            value.get_type().name()?
        ))),
    }
}

/// A timeout in seconds: `None` (or `inf`, or anything too long for a `Duration`) waits
/// forever; negative or NaN values are refused.
pub fn timeout(value: Option<f64>) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(s) if s.is_infinite() && s > 0.0 => Ok(None),
        Some(s) if s.is_nan() || s < 0.0 => Err(PyValueError::new_err(format!(
            "timeout must be a non-negative number of seconds or None, not {s}"
        ))),
        Some(s) => Ok(Duration::try_from_secs_f64(s).ok()),
    }
}

/// The bytes of a bytes-like argument, borrowed for as long as this value lives.
pub enum ByteSource<'py> {
    /// A `bytes` object: its contents never change.
    Bytes(Bound<'py, PyBytes>),
    /// Any other object exporting a C-contiguous buffer (bytearray, memoryview, array, ...).
    Buffer(PyUntypedBuffer),
}

impl<'py> ByteSource<'py> {
    /// Borrows `obj` as bytes; `TypeError` for `str` and objects without a buffer.
    pub fn new(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Self> {
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(Self::Bytes(bytes.clone()));
        }
        if obj.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "{name} must be a bytes-like object, not 'str'"
            )));
        }
        let buffer = PyUntypedBuffer::get(obj).map_err(|_| {
            let type_name = obj
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            PyTypeError::new_err(format!(
                "{name} must be a bytes-like object, not '{type_name}'"
            ))
        })?;
        if !buffer.is_c_contiguous() {
            return Err(PyTypeError::new_err(format!(
                "{name} must be a C-contiguous buffer"
            )));
        }
        Ok(Self::Buffer(buffer))
    }

    /// The bytes. Only call with the GIL held (the `py` token proves it), and do not keep the
    /// slice across a release of the GIL: another thread could change a mutable buffer.
    pub fn as_slice(&self, _py: Python<'py>) -> &[u8] {
        match self {
            Self::Bytes(bytes) => bytes.as_bytes(),
            Self::Buffer(buffer) => {
                let len = buffer.len_bytes();
                if len == 0 {
                    return &[];
                }
                // SAFETY: the buffer is exported (and so kept alive and at a fixed address,
                // unresizable) for as long as `buffer` lives, which outlives the returned
                // borrow; it is C-contiguous and `len_bytes` long. The GIL is held, so no
                // Python code mutates it while the slice is used.
                unsafe { std::slice::from_raw_parts(buffer.buf_ptr().cast::<u8>(), len) }
            }
        }
    }
}

/// A writable, contiguous buffer argument (`readinto` targets), exported for the duration of
/// one call. Uses a plain `Py_buffer` request (`PyBUF_WRITABLE`: contiguous, no format or
/// shape), the cheapest the protocol offers; the `Py_buffer` lives in the caller's frame.
pub struct Target<'v> {
    view: &'v mut pyo3::ffi::Py_buffer,
}

impl<'v> Target<'v> {
    /// Borrows `obj` for writing into `view` (a zeroed `Py_buffer` that must outlive the
    /// target and not move); `TypeError` for read-only, non-contiguous or non-buffer objects.
    pub fn new(obj: &Bound<'_, PyAny>, view: &'v mut pyo3::ffi::Py_buffer) -> PyResult<Self> {
        // SAFETY: `obj` is a valid object (bound, so the GIL is held) and `view` is writable
        // memory that stays at a fixed address (borrowed for 'v) until `PyBuffer_Release` in
        // `Drop`; on failure there is nothing to release.
        let status = unsafe {
            pyo3::ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, pyo3::ffi::PyBUF_WRITABLE)
        };
        if status != 0 {
            let cause = PyErr::fetch(obj.py());
            let err = PyTypeError::new_err(
                "readinto() argument must be a read-write, contiguous bytes-like object",
            );
            err.set_cause(obj.py(), Some(cause));
            return Err(err);
        }
        Ok(Self { view })
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        usize::try_from(self.view.len).unwrap_or(0)
    }

    /// The bytes, for writing. Only with the GIL held, and not across a release of it.
    pub fn as_mut_slice(&mut self, _py: Python<'_>) -> &mut [u8] {
        let len = self.len();
        if len == 0 {
            return &mut [];
        }
        // SAFETY: the exporter granted a writable, contiguous buffer of `len` bytes at `buf`,
        // valid until `PyBuffer_Release`; `&mut self` makes this the only borrow we hand out,
        // and the GIL (held, as the token proves) keeps Python code from touching it meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.view.buf.cast::<u8>(), len) }
    }
}

impl Drop for Target<'_> {
    fn drop(&mut self) {
        // SAFETY: `view` was filled by a successful `PyObject_GetBuffer` and is released
        // exactly once. Targets only live inside method calls, which hold the GIL.
        unsafe { pyo3::ffi::PyBuffer_Release(&mut *self.view) };
    }
}
