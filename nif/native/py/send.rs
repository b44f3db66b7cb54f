//! `erlang.send(pid, obj)`: a message from Python to an Erlang process.
//!
//! Python runs only on threads the NIF owns (or threads Python code started), never on ERTS
//! threads, so sending through a fresh `OwnedEnv` is allowed (`send_and_clear` panics on
//! ERTS threads; that case is turned into a `RuntimeError` instead).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use rustler::OwnedEnv;

use crate::py::from_python::from_python;
use crate::py::pid::Pid;

/// Sends `obj`, converted as a `py:call` result is, to `pid`. Returns whether the process
/// was alive to receive it.
#[pyfunction]
pub fn send(pid: PyRef<'_, Pid>, obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    if rustler::thread::is_scheduler_thread() {
        return Err(PyRuntimeError::new_err(
            "erlang.send called on an Erlang scheduler thread",
        ));
    }
    let mut env = OwnedEnv::new();
    let sent = env.send_and_clear(&pid.pid(), |env| from_python(env, obj, 0));
    Ok(sent.is_ok())
}
