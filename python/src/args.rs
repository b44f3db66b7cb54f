//! Argument conversion shared by the classes: sizes, timeouts, and bytes-like inputs.
//!
//! Bad arguments raise `ValueError` or `TypeError` with a message naming the argument, as the
//! `io` module does.

use std::time::Duration;

use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
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

/// A timeout in seconds: `None` waits forever; negative or NaN values are refused.
pub fn timeout(value: Option<f64>) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(s) if s.is_nan() || s < 0.0 => Err(PyValueError::new_err(format!(
            "timeout must be a non-negative number of seconds or None, not {s}"
        ))),
        Some(s) => Ok(Some(
            Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX),
        )),
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

/// A writable, C-contiguous buffer argument (`readinto` targets).
pub struct Target {
    buffer: PyUntypedBuffer,
}

impl Target {
    /// Borrows `obj` for writing; `TypeError` for read-only or non-buffer objects.
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let buffer = PyUntypedBuffer::get(obj).map_err(|_| {
            PyTypeError::new_err("readinto() argument must be a read-write bytes-like object")
        })?;
        if buffer.readonly() {
            return Err(PyTypeError::new_err(
                "readinto() argument must be a read-write bytes-like object, not read-only",
            ));
        }
        if !buffer.is_c_contiguous() {
            return Err(PyTypeError::new_err(
                "readinto() argument must be a C-contiguous buffer",
            ));
        }
        Ok(Self { buffer })
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.buffer.len_bytes()
    }

    /// The bytes, for writing. Only with the GIL held, and not across a release of it.
    pub fn as_mut_slice(&mut self, _py: Python<'_>) -> &mut [u8] {
        let len = self.len();
        if len == 0 {
            return &mut [];
        }
        // SAFETY: the buffer is exported writable and C-contiguous for as long as `self`
        // lives; `&mut self` makes this the only borrow we hand out, and the GIL (held, as the
        // token proves) keeps Python code from touching it while the slice is used.
        unsafe { std::slice::from_raw_parts_mut(self.buffer.buf_ptr().cast::<u8>(), len) }
    }
}
