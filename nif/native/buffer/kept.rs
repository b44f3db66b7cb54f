//! Large Erlang binaries kept as buffer blocks without copying their bytes.
//!
//! A refc binary's bytes never change once written, and they live as long as some env
//! references the binary. [`Keeper::keep`] copies the *term* (not the bytes: for a refc binary
//! `enif_make_copy` only bumps its reference count) into the buffer's keeper env, and the
//! resulting [`Bytes`] owns a share of that env, so the buffer's block and the Erlang binary
//! are the same memory until the last block is dropped.
//!
//! One env per buffer rather than one per binary: an env costs a heap allocation of its own,
//! and thousands of them cost more (in fresh pages) than copying 4 KiB. Keeping is used only
//! in unbounded buffers, which release nothing before the buffer itself goes, so a shared env
//! holds nothing longer than the buffer would.

use std::sync::{Arc, Mutex};

use py_buffer_core::Bytes;
use rustler::{Binary, OwnedEnv, Term};

use crate::buffer::lock;

/// The env holding a buffer's kept binaries.
pub struct Keeper {
    env: Mutex<OwnedEnv>,
}

impl Keeper {
    /// An empty keeper.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            env: Mutex::new(OwnedEnv::new()),
        })
    }

    /// The bytes of the binary `term` as a [`Bytes`] sharing the Erlang binary's memory.
    ///
    /// Meant for large binaries; a small (heap) binary would be copied by `enif_make_copy`
    /// anyway.
    pub fn keep(self: &Arc<Self>, term: Term<'_>) -> Option<Bytes> {
        let (ptr, len) = {
            let env = lock(&self.env);
            let saved = env.save(term);
            env.run(|env| {
                let binary: Binary = saved.load(env).decode().ok()?;
                let slice = binary.as_slice();
                Some((slice.as_ptr(), slice.len()))
            })?
        };
        Some(Bytes::from_owner(Kept {
            _keeper: Arc::clone(self),
            ptr,
            len,
        }))
    }
}

/// The owner of one kept block: a share of the keeper env, and the block's bytes.
struct Kept {
    _keeper: Arc<Keeper>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: `ptr` points into a refc binary that the keeper's env references until the keeper
// is dropped (after every `Kept`), and nobody mutates it; `OwnedEnv` may be freed from any
// thread (`enif_free_env` is thread-safe).
unsafe impl Send for Kept {}

impl AsRef<[u8]> for Kept {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is the binary's data, valid while `_keeper` lives (see above).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}
