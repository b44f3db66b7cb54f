//! `erlang.send(pid, obj)`: a message from Python to an Erlang process.
//!
//! Python runs only on threads the NIF owns (or threads Python code started), never on ERTS
//! threads, so sending through a fresh `OwnedEnv` is allowed (`send_and_clear` panics on
//! ERTS threads; that case is turned into a `RuntimeError` instead).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use rustler::OwnedEnv;

use crate::py::from_python::{from_python, MAX_BYTES, MAX_NODES};
use crate::py::pid::Pid;

/// Sends `obj`, converted as a `py:call` result is, to `pid`. Returns whether the process
/// was alive to receive it. Raises `ValueError` when `obj` is beyond the conversion budget.
#[pyfunction]
pub fn send(pid: PyRef<'_, Pid>, obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    if rustler::thread::is_scheduler_thread() {
        return Err(PyRuntimeError::new_err(
            "erlang.send called on an Erlang scheduler thread",
        ));
    }
    let mut env = OwnedEnv::new();
    let converted = catch_unwind(AssertUnwindSafe(|| {
        env.run(|term_env| from_python(term_env, obj).map(|term| env.save(term)))
    }));
    match converted {
        Ok(Ok(saved)) => {
            let sent = env.send_and_clear(&pid.pid(), |term_env| saved.load(term_env));
            Ok(sent.is_ok())
        }
        Ok(Err(_)) => Err(PyValueError::new_err(format!(
            "object too large to send: more than {MAX_NODES} objects or {MAX_BYTES} bytes"
        ))),
        Err(_) => Err(PyRuntimeError::new_err("converting the message failed")),
    }
}
