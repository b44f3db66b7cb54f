//! A Python exception as `{error, {python_error, Type, Message, Traceback}}`.
//!
//! `Type` is a binary: the class's `__qualname__` for built-in exceptions
//! (`<<"ZeroDivisionError">>`), `module.qualname` otherwise (`<<"py_buffer.BodyAborted">>`).
//! Binaries, not atoms, so exceptions cannot grow the atom table. `Message` is `str(exc)`,
//! `Traceback` the text `traceback.format_exception` prints.

use pyo3::prelude::*;
use pyo3::types::PyString;
use rustler::{Encoder, Env, Term};

use crate::atoms;

fn type_name(py: Python<'_>, err: &PyErr) -> String {
    let ty = err.get_type(py);
    let qualname = ty
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    match ty.module().map(|m| m.to_string()) {
        Ok(module) if module != "builtins" => format!("{module}.{qualname}"),
        _ => qualname,
    }
}

fn traceback(py: Python<'_>, err: &PyErr) -> PyResult<String> {
    // pyo3 keeps the traceback beside the value; pass all three parts explicitly.
    let lines = py.import("traceback")?.call_method1(
        "format_exception",
        (err.get_type(py), err.value(py), err.traceback(py)),
    )?;
    PyString::new(py, "")
        .call_method1("join", (lines,))?
        .extract()
}

/// Converts `err` into the error tuple returned to Erlang.
pub fn error_term<'a>(py: Python<'_>, env: Env<'a>, err: PyErr) -> Term<'a> {
    let name = type_name(py, &err);
    let message = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let traceback = traceback(py, &err).unwrap_or_default();
    (
        atoms::error(),
        (atoms::python_error(), name, message, traceback),
    )
        .encode(env)
}
