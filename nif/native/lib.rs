//! The Erlang NIF `py_buffer`: Erlang processes create buffers, write HTTP body chunks into
//! them, read them, and learn about readiness through messages; and the CPython interpreter
//! embedded in the same library runs Python code for module `py`.
//!
//! The Rust sources are grouped by product:
//!
//! - [`buffer`]: the buffer NIFs behind `src/py_buffer.erl`. The buffer itself is
//!   `py-buffer-core`; this part maps it onto Erlang terms and messages.
//! - [`py`]: the embedded interpreter behind `src/py.erl` (its hidden NIFs are exported by
//!   module `py_buffer`: one library loads into one module).
//! - [`atoms`] and [`on_load`] are shared: the atoms both parts use, and the load callback
//!   that starts the interpreter and its workers.
//! - [`test_hooks`] (cargo feature `test-hooks`, built by `make test-nif` only): NIFs the
//!   EUnit suite uses to act from threads the BEAM does not manage.

mod atoms;
mod buffer;
mod on_load;
mod py;
#[cfg(feature = "test-hooks")]
mod test_hooks;

rustler::init!("py_buffer", load = on_load::load);
