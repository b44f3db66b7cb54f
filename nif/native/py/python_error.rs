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

/// The traceback without its first entry when that is the call trampoline's frame
/// (`__py_call__`, see `job.rs`): it is not the caller's code.
fn user_traceback<'py>(py: Python<'py>, err: &PyErr) -> PyResult<Bound<'py, PyAny>> {
    let Some(traceback) = err.traceback(py) else {
        return Ok(py.None().into_bound(py));
    };
    let name: String = traceback
        .getattr("tb_frame")?
        .getattr("f_code")?
        .getattr("co_name")?
        .extract()?;
    if name == "__py_call__" {
        return traceback.getattr("tb_next");
    }
    Ok(traceback.into_any())
}

fn traceback(py: Python<'_>, err: &PyErr) -> PyResult<String> {
    // pyo3 keeps the traceback beside the value; pass all three parts explicitly.
    let lines = py.import("traceback")?.call_method1(
        "format_exception",
        (err.get_type(py), err.value(py), user_traceback(py, err)?),
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
