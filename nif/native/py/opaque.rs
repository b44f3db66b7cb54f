//! `erlang.Term`: an Erlang term with no Python counterpart (reference, port, fun, improper
//! list), carried through Python unchanged and converted back to the very same term.

use std::sync::Mutex;

use pyo3::prelude::*;
use rustler::env::SavedTerm;
use rustler::{Env, OwnedEnv};

/// An opaque Erlang term.
#[pyclass(frozen, module = "erlang", name = "Term")]
pub struct Term {
    saved: Mutex<(OwnedEnv, SavedTerm)>,
}

impl Term {
    /// Copies `term` into an environment owned by the new object.
    pub fn new(term: rustler::Term<'_>) -> Self {
        let env = OwnedEnv::new();
        let saved = env.save(term);
        Self {
            saved: Mutex::new((env, saved)),
        }
    }

    /// A copy of the term in `env`.
    pub fn load<'a>(&self, env: Env<'a>) -> rustler::Term<'a> {
        let guard = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let (owned, saved) = &*guard;
        owned.run(|own| saved.load(own).in_env(env))
    }
}

#[pymethods]
impl Term {
    fn __repr__(&self) -> String {
        let guard = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let (owned, saved) = &*guard;
        owned.run(|own| format!("erlang.Term({:?})", saved.load(own)))
    }
}
