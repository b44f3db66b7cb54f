//! Keeping a Python `bytes` object as a block of the buffer, without copying it.
//!
//! `bytes` objects are immutable and their storage never moves, so a large one written by a
//! producer (or given to `PyBuffer.from_bytes`) can be held by reference: the core's blocks are
//! `Bytes`, and `Bytes::from_owner` keeps any owner alive for as long as a slice of it exists.
//! The reader then copies once, straight from the producer's object.

use py_buffer_core::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Writes of `bytes` objects at least this long are kept by reference (the core keeps owned
/// blocks from 4 KiB on in unbounded mode; below that, copying is cheaper than an owner).
pub const ADOPT_MIN: usize = py_buffer_core::KEEP_WITHOUT_COPY_MIN;

/// A strong reference to a `bytes` object and the address of its contents.
struct Owner {
    /// Keeps the object (and so `data`) alive; dropped without the GIL, PyO3 defers the
    /// decref until a thread next attaches.
    _object: Py<PyBytes>,
    data: *const u8,
    len: usize,
}

// SAFETY: `Py<PyBytes>` is Send; `data` points into the immutable contents of that object,
// which lives (and stays at the same address, unchanged) as long as `Owner` holds it, so
// reading it from any thread is sound.
unsafe impl Send for Owner {}
// SAFETY: as above; `Owner` only hands out shared, read-only access.
unsafe impl Sync for Owner {}

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `data`/`len` describe the contents of the `bytes` object kept alive by
        // `_object`; `bytes` contents are never mutated after creation.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

/// The contents of `object` as a `Bytes` that shares its memory.
pub fn adopt(object: &Bound<'_, PyBytes>) -> Bytes {
    let slice = object.as_bytes();
    let owner = Owner {
        data: slice.as_ptr(),
        len: slice.len(),
        _object: object.clone().unbind(),
    };
    Bytes::from_owner(owner)
}
