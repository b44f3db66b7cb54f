//! The NIF load callback: register the buffer's resource type, start the interpreter once
//! per VM, then the worker pool.
//!
//! A failure to start Python does not fail the load: the buffer NIFs keep working and every
//! `py:*` call returns `{error, {python_init, Reason}}`, so a node without a usable Python
//! can still stream bodies.

use rustler::{Env, Term};

use crate::buffer::resource_type;
use crate::py::config::Config;
use crate::py::{interpreter, workers};

/// Called by `erlang:load_nif/2` on the code server's scheduler thread. Fails the load only
/// if the buffer's resource type cannot be registered.
pub fn load(env: Env<'_>, info: Term<'_>) -> bool {
    if !resource_type::register(env) {
        return false;
    }
    let config = Config::from_load_info(info);
    // A failure is kept by the interpreter module and reported by every py:* call.
    if interpreter::start(&config).is_ok() {
        // Without its threads, calls return `{error, not_started}`.
        let _ = workers::start(&config);
    }
    true
}
