//! `erlang.Pid`: an Erlang process identifier inside Python.
//!
//! Opaque, immutable, hashable and comparable for equality; it converts back to the same pid,
//! so Python code can hand a pid it received to Erlang again (e.g. as a reply address).

use pyo3::prelude::*;
use rustler::{Encoder, LocalPid, OwnedEnv};

/// An Erlang pid.
#[pyclass(frozen, module = "erlang", name = "Pid")]
pub struct Pid {
    pid: LocalPid,
}

impl Pid {
    /// Wraps a pid.
    pub fn new(pid: LocalPid) -> Self {
        Self { pid }
    }

    /// The wrapped pid.
    pub fn pid(&self) -> LocalPid {
        self.pid
    }
}

#[pymethods]
impl Pid {
    fn __repr__(&self) -> String {
        let text = OwnedEnv::new().run(|env| format!("{:?}", self.pid.encode(env)));
        format!("erlang.Pid({text})")
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.pid.hash(&mut hasher);
        hasher.finish()
    }

    fn __eq__(&self, other: PyRef<'_, Pid>) -> bool {
        self.pid == other.pid
    }
}
