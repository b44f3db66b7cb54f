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
//!
//! A read result must not keep that env (and so every binary written to the buffer) alive: an
//! 8 KiB result of a buffer written with 1000 × 1 MiB kept 1 GB. So the keeper also indexes
//! its binaries by address, and [`Keeper::binary_of`] turns bytes lying in one kept block into
//! a sub-binary of that block's own Erlang binary, which pins that binary only.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use py_buffer_core::Bytes;
use rustler::env::SavedTerm;
use rustler::{Binary, Env, OwnedEnv, Term};

use crate::buffer::lock;

/// The env holding a buffer's kept binaries.
pub struct Keeper {
    state: Mutex<State>,
}

/// The env, and each kept binary by the address of its first byte: `(length, term)`.
struct State {
    env: OwnedEnv,
    blocks: BTreeMap<usize, (usize, SavedTerm)>,
}

impl Keeper {
    /// An empty keeper.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                env: OwnedEnv::new(),
                blocks: BTreeMap::new(),
            }),
        })
    }

    /// `bytes` as a sub-binary (in `env`) of the kept Erlang binary they lie in, or `None`
    /// when they are not inside one kept binary. No copy: the result references that binary
    /// only (`binary:referenced_byte_size/1` is its size), not the keeper.
    pub fn binary_of<'a>(&self, env: Env<'a>, bytes: &[u8]) -> Option<Term<'a>> {
        let state = lock(&self.state);
        let start = bytes.as_ptr() as usize;
        let (&base, (len, saved)) = state.blocks.range(..=start).next_back()?;
        let offset = start - base;
        if offset.checked_add(bytes.len())? > *len {
            return None;
        }
        state.env.run(|own| {
            // For a refc binary, copying the term into `env` only adds a reference.
            let whole: Binary = saved.load(own).in_env(env).decode().ok()?;
            let part = whole.make_subbinary(offset, bytes.len()).ok()?;
            Some(part.to_term(env))
        })
    }

    /// The bytes of the binary `term` as a [`Bytes`] sharing the Erlang binary's memory.
    ///
    /// Meant for large binaries; a small (heap) binary would be copied by `enif_make_copy`
    /// anyway.
    pub fn keep(self: &Arc<Self>, term: Term<'_>) -> Option<Bytes> {
        let (ptr, len) = {
            let mut state = lock(&self.state);
            let saved = state.env.save(term);
            let (ptr, len) = state.env.run(|env| {
                let binary: Binary = saved.load(env).decode().ok()?;
                let slice = binary.as_slice();
                Some((slice.as_ptr(), slice.len()))
            })?;
            state.blocks.insert(ptr as usize, (len, saved));
            (ptr, len)
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
