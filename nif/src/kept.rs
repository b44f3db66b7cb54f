//! Large Erlang binaries kept as buffer blocks without copying their bytes.
//!
//! A refc binary's bytes never change once written, and they live as long as some env
//! references the binary. [`keep`] copies the *term* (not the bytes: for a refc binary
//! `enif_make_copy` only bumps its reference count) into an `OwnedEnv` that the resulting
//! [`Bytes`] owns, so the buffer's block and the Erlang binary are the same memory until the
//! block is released.

use py_buffer_core::Bytes;
use rustler::{Binary, OwnedEnv, Term};

/// The owner of a kept block: the env holding a reference to the binary, and its bytes.
struct Kept {
    _env: OwnedEnv,
    ptr: *const u8,
    len: usize,
}

// SAFETY: `ptr` points into a refc binary that `_env` keeps alive and that nobody mutates;
// `OwnedEnv` is `Send` and may be freed from any thread (`enif_free_env` is thread-safe).
unsafe impl Send for Kept {}

impl AsRef<[u8]> for Kept {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is the binary's data, valid while `_env` lives (see above).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// The bytes of the binary `term` as a [`Bytes`] sharing the Erlang binary's memory.
///
/// Meant for large binaries; a small (heap) binary would be copied by `enif_make_copy` anyway.
pub fn keep(term: Term<'_>) -> Option<Bytes> {
    let env = OwnedEnv::new();
    let saved = env.save(term);
    let (ptr, len) = env.run(|env| {
        let binary: Binary = saved.load(env).decode().ok()?;
        let slice = binary.as_slice();
        Some((slice.as_ptr(), slice.len()))
    })?;
    Some(Bytes::from_owner(Kept {
        _env: env,
        ptr,
        len,
    }))
}
