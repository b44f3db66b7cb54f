//! The Python face of an Erlang buffer: one `erlang.PyBuffer` object per `py_buffer`
//! resource, made at its first crossing into Python and reused after, so a buffer passed
//! twice is the same Python object (`is`), and a face handed back to Erlang becomes the
//! buffer it came from.
//!
//! The object reads through a clone of the resource's reader: Erlang writes and Python reads
//! one core state, nothing is copied. The buffer ([`Inner`]) owns the object; a registry maps
//! object addresses back to buffers, weakly (an address cannot be reused while the buffer
//! lives, since the buffer keeps the object alive). [`forget`] removes the entry when the
//! buffer dies; the object itself is released then (pyo3 defers the decref to the next
//! thread that holds the GIL when the buffer dies on a scheduler).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use py_buffer_python::PyBuffer;
use pyo3::prelude::*;

use crate::buffer::{lock, Inner};

/// Face object address → its buffer.
static FACES: LazyLock<Mutex<HashMap<usize, Weak<Inner>>>> = LazyLock::new(Default::default);

/// The `PyBuffer` object of `inner`, made on first use.
pub fn face<'py>(py: Python<'py>, inner: &Arc<Inner>) -> PyResult<Bound<'py, PyBuffer>> {
    if let Some(object) = inner.python_object().get() {
        return Ok(object.bind(py).clone());
    }
    let object = Py::new(py, PyBuffer::from_reader(inner.reader().clone()))?;
    let address = object.as_ptr() as usize;
    // Another thread may have made one meanwhile: the first one set wins, ours is dropped.
    if inner.python_object().set(object).is_ok() {
        lock(&FACES).insert(address, Arc::downgrade(inner));
    }
    Ok(inner
        .python_object()
        .get()
        .expect("set just above, by us or another thread")
        .bind(py)
        .clone())
}

/// The buffer whose face `object` is, if it is one (a `PyBuffer` made in Python is not).
pub fn buffer_of(object: &Bound<'_, PyBuffer>) -> Option<Arc<Inner>> {
    lock(&FACES).get(&(object.as_ptr() as usize))?.upgrade()
}

/// Removes the registry entry of a face whose buffer is dying.
pub fn forget(object: &Py<PyBuffer>) {
    lock(&FACES).remove(&(object.as_ptr() as usize));
}
