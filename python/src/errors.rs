//! The Python exceptions of the package, and how the core's typed errors map onto them.
//!
//! A failed body raises an `OSError` subclass ([`BodyTruncated`], [`BodyAborted`]) so that
//! WSGI frameworks, which already turn `OSError` from `wsgi.input` into their own disconnect
//! errors, do so for ours. Everything else maps onto the builtin a Python user expects.

use py_buffer_core::{Error, SeekError};
use pyo3::exceptions::{PyBrokenPipeError, PyOSError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    py_buffer,
    BodyTruncated,
    PyOSError,
    "The body ended before its announced Content-Length arrived (raised once every byte that did arrive was read)."
);
pyo3::create_exception!(
    py_buffer,
    BodyAborted,
    PyOSError,
    "The producer aborted the body (client disconnect, owner gone, writer dropped unclosed)."
);
pyo3::import_exception!(io, UnsupportedOperation);

/// The Python exception for a core error.
pub fn to_py(error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::Truncated { .. } => BodyTruncated::new_err(message),
        Error::Aborted(_) => BodyAborted::new_err(message),
        Error::TimedOut => PyTimeoutError::new_err(message),
        Error::Closed | Error::Overflow { .. } => PyValueError::new_err(message),
        Error::ReaderClosed => PyBrokenPipeError::new_err(message),
        Error::InvalidSeek(SeekError::EndUnknown)
        | Error::InvalidSeek(SeekError::BeforeStart { first: 1.., .. }) => {
            UnsupportedOperation::new_err(message)
        }
        Error::InvalidSeek(_) => PyValueError::new_err(message),
        _ => PyOSError::new_err(message),
    }
}

/// The `TimeoutError` of a blocking call whose deadline passed.
pub fn timed_out(what: &str) -> PyErr {
    PyTimeoutError::new_err(format!("{what} timed out"))
}
