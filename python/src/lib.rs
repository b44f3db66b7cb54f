//! The Python binding of py_buffer: the `PyBuffer` and `BufferWriter` classes and the
//! `BodyTruncated` / `BodyAborted` exceptions, built by maturin as `py_buffer._native`.
//!
//! The crate is also an rlib so the Erlang NIF can hand buffers made in Rust to its embedded
//! interpreter as the very same class ([`PyBuffer::from_reader`]) and register the module
//! ([`_native`]) with `append_to_inittab!`.

mod adopt;
mod aio;
mod args;
mod buffer;
mod copy;
mod errors;
mod lines;
mod wait;
mod writer;

use pyo3::prelude::*;

pub use buffer::PyBuffer;
pub use errors::{to_py, BodyAborted, BodyTruncated};
pub use writer::BufferWriter;

/// The extension module `py_buffer._native`.
#[pymodule]
pub fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    wait::init_main_thread(py)?;
    m.add_class::<PyBuffer>()?;
    m.add_class::<BufferWriter>()?;
    aio::done::install_fast_next(py);
    lines::install_fast_next(py);
    lines::install_fast_readline(py)?;
    m.add("BodyTruncated", py.get_type::<BodyTruncated>())?;
    m.add("BodyAborted", py.get_type::<BodyAborted>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    #[cfg(feature = "wake-trace")]
    m.add_function(pyo3::wrap_pyfunction!(_wake_trace, m)?)?;
    // The default chunk size of `achunks` and `py_buffer.asgi.receive`, shared with the core.
    m.add("DEFAULT_CHUNK_SIZE", py_buffer_core::DEFAULT_CHUNK_SIZE)?;
    Ok(())
}

/// The wake-up path's timestamps (`py_buffer_core::wake_trace`), one list per point, and
/// forgets them; only in a build with the `wake-trace` feature (`make bench-wake-trace`).
#[cfg(feature = "wake-trace")]
#[pyfunction]
fn _wake_trace() -> Vec<Vec<u64>> {
    py_buffer_core::wake_trace::take()
}
