//! The coroutine rules the awaitables follow: what `throw()` accepts, and the errors for an
//! awaitable driven twice or re-entered, worded as CPython words them for coroutines.

use pyo3::exceptions::{PyBaseException, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyType;

/// The exception `throw(typ, val)` raises, checked as `coroutine.throw` checks it: an
/// exception instance (with no separate value), or a `BaseException` subclass (instantiated
/// with `val`); anything else is a `TypeError`.
pub fn thrown(typ: &Bound<'_, PyAny>, val: Option<&Bound<'_, PyAny>>) -> PyErr {
    let val = val.filter(|v| !v.is_none());
    if typ.is_instance_of::<PyBaseException>() {
        if val.is_some() {
            return PyTypeError::new_err("instance exception may not have a separate value");
        }
        return PyErr::from_value(typ.clone());
    }
    let is_exception_class = typ
        .cast::<PyType>()
        .is_ok_and(|t| t.is_subclass_of::<PyBaseException>().unwrap_or(false));
    if !is_exception_class {
        let name = typ
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        return PyTypeError::new_err(format!(
            "exceptions must be classes or instances deriving from BaseException, not {name}"
        ));
    }
    let made = match val {
        Some(v) if v.is_instance(typ).unwrap_or(false) => Ok(v.clone()),
        Some(v) => typ.call1((v,)),
        None => typ.call0(),
    };
    match made {
        Ok(error) => PyErr::from_value(error),
        Err(e) => e,
    }
}

/// Awaiting (or stepping) an awaitable that already finished.
pub fn reused(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!("cannot reuse already awaited {what}"))
}

/// A second driver of an awaitable that is still being awaited.
pub fn awaited_already(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!("{what} is being awaited already"))
}

/// A call into an awaitable from inside its own step (e.g. from a `readinto` target's
/// `__buffer__`).
pub fn executing(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!("{what} is already executing"))
}
