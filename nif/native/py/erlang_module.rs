//! The Python modules this library provides inside the VM, and how they are registered.
//!
//! - `py_buffer._native`: the module object of the linked `py-buffer-python` rlib, built here
//!   and put in `sys.modules` *before* anything imports `py_buffer`. The pure-Python package's
//!   `from ._native import PyBuffer` then finds this module, not a `_native*.so` that pip may
//!   have installed in the venv: two compiled copies would be two distinct `PyBuffer` types
//!   and `isinstance` would fail across them.
//! - `erlang`: `PyBuffer` (the very same class object), `Pid` and `Term` (opaque Erlang terms),
//!   `Inbox` (a thread of the app's own taking the calls meant for it) and `send(pid, obj)`.
//!
//! `sys.modules` injection is used rather than `PyImport_AppendInittab`: inittab entries must
//! be added before `Py_Initialize`, and a dotted name (`py_buffer._native`) cannot be a
//! built-in module found by `BuiltinImporter`.

use pyo3::prelude::*;
use pyo3::types::PyModule;
use pyo3::{wrap_pyfunction, wrap_pymodule};

use crate::py::inbox::Inbox;
use crate::py::opaque::Term as OpaqueTerm;
use crate::py::pid::Pid;

/// The `erlang` module seen by Python code running inside the VM.
#[pymodule]
#[pyo3(name = "erlang")]
fn erlang(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let native = native_module(py)?;
    m.add("PyBuffer", native.getattr("PyBuffer")?)?;
    m.add_class::<Pid>()?;
    m.add_class::<OpaqueTerm>()?;
    m.add_class::<Inbox>()?;
    m.add_function(wrap_pyfunction!(crate::py::send::send, m)?)?;
    Ok(())
}

/// `sys.modules["py_buffer._native"]`, created on first use.
fn native_module(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let modules = py.import("sys")?.getattr("modules")?;
    if let Ok(native) = modules.get_item("py_buffer._native") {
        return Ok(native);
    }
    let native = wrap_pymodule!(py_buffer_python::_native)(py).into_bound(py);
    native.setattr("__name__", "py_buffer._native")?;
    modules.set_item("py_buffer._native", &native)?;
    Ok(native.into_any())
}

/// Puts `py_buffer._native` and `erlang` into `sys.modules`. Call before user code runs.
pub fn register(py: Python<'_>) -> PyResult<()> {
    native_module(py)?;
    let erlang = wrap_pymodule!(erlang)(py);
    py.import("sys")?
        .getattr("modules")?
        .set_item("erlang", erlang)?;
    Ok(())
}
