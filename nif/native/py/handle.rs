//! A Python object owned by an Erlang resource: how a `PyBuffer` made in Python reaches
//! Erlang. The resource term is opaque to Erlang (the `py_buffer` functions refuse it) and
//! converts back to the very same Python object. The object is released on the
//! `py-release` thread when the resource dies ([`crate::py::release`]), so a
//! scheduler never takes the GIL.

use pyo3::prelude::*;
use rustler::Resource;

/// The resource behind a Python object handed to Erlang.
pub struct PyHandle {
    object: Option<Py<PyAny>>,
}

#[rustler::resource_impl]
impl Resource for PyHandle {}

impl PyHandle {
    /// Owns `object`.
    pub fn new(object: Py<PyAny>) -> Self {
        Self {
            object: Some(object),
        }
    }

    /// The object (with the GIL held).
    pub fn object<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.object.as_ref().map(|object| object.bind(py).clone())
    }

    /// The object's address (its `id()`).
    pub fn address(&self) -> usize {
        self.object
            .as_ref()
            .map_or(0, |object| object.as_ptr() as usize)
    }
}

impl Drop for PyHandle {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            crate::py::release::release(object);
        }
    }
}
