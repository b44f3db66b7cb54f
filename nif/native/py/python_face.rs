//! The Python face of an Erlang buffer: one `erlang.PyBuffer` object per `py_buffer`
//! resource, made at its first crossing into Python and reused after, so a buffer passed
//! twice is the same Python object (`is`), and a face handed back to Erlang becomes the
//! buffer it came from.
//!
//! The object reads through a clone of the resource's reader: Erlang writes and Python reads
//! one core state, nothing is copied. The buffer ([`Inner`]) owns the object; a registry maps
//! object addresses back to buffers, weakly (an address cannot be reused while the buffer
//! lives, since the buffer keeps the object alive). [`forget`] removes the entry when the
//! buffer dies and hands the object to the release thread, which takes the GIL and drops
//! it at once (a scheduler never waits for the GIL, and the buffer's bytes, which the object
//! keeps through its reader, are freed promptly rather than at the next Python call).

use std::collections::HashMap;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use py_buffer_python::PyBuffer;
use pyo3::prelude::*;

use crate::buffer::{lock, Inner};

/// Face object address → its buffer.
static FACES: LazyLock<Mutex<HashMap<usize, Weak<Inner>>>> = LazyLock::new(Default::default);

/// The `PyBuffer` object of `inner`, made on first use.
pub fn face<'py>(py: Python<'py>, inner: &Arc<Inner>) -> PyResult<Bound<'py, PyBuffer>> {
    if let Some(object) = inner.python.get() {
        return Ok(object.bind(py).clone());
    }
    let object = Py::new(py, PyBuffer::from_reader((*inner.reader).clone()))?;
    let address = object.as_ptr() as usize;
    // Another thread may have made one meanwhile: the first one set wins, ours is dropped.
    if inner.python.set(object).is_ok() {
        lock(&FACES).insert(address, Arc::downgrade(inner));
    }
    Ok(inner
        .python
        .get()
        .expect("set just above, by us or another thread")
        .bind(py)
        .clone())
}

/// The buffer whose face `object` is, if it is one (a `PyBuffer` made in Python is not).
pub fn buffer_of(object: &Bound<'_, PyBuffer>) -> Option<Arc<Inner>> {
    lock(&FACES).get(&(object.as_ptr() as usize))?.upgrade()
}

/// The thread dropping faces of dead buffers with the GIL held.
static RELEASER: LazyLock<Option<Mutex<Sender<Py<PyBuffer>>>>> = LazyLock::new(|| {
    let (sender, receiver) = channel::<Py<PyBuffer>>();
    std::thread::Builder::new()
        .name("py-release".into())
        .spawn(move || {
            while let Ok(first) = receiver.recv() {
                let mut batch = vec![first];
                batch.extend(receiver.try_iter());
                if crate::py::finalize::is_finalized() {
                    // Python is gone: the objects can only be leaked.
                    batch.into_iter().for_each(std::mem::forget);
                    continue;
                }
                Python::attach(|_py| drop(batch));
            }
        })
        .ok()?;
    Some(Mutex::new(sender))
});

/// Removes the registry entry of a face whose buffer is dying, and releases the object.
pub fn forget(object: Py<PyBuffer>) {
    lock(&FACES).remove(&(object.as_ptr() as usize));
    match RELEASER.as_ref() {
        Some(sender) => {
            // If the thread is gone, the object is dropped here (pyo3 defers the decref).
            let _ = lock(sender).send(object);
        }
        None => drop(object),
    }
}
