//! The Erlang NIF `py_buffer`: Erlang processes create buffers, write HTTP body chunks into
//! them, read them, and learn about readiness through messages; and the CPython interpreter
//! embedded in the same library runs Python code for module `py`.
//!
//! The buffer itself is `py-buffer-core`; this crate maps it onto Erlang terms. One file per
//! topic: [`buffer`] is the resource, [`notify`] turns core edges into `{active, once}`-style
//! messages, [`owner`] aborts bodies whose owner process died, and the remaining modules hold
//! the NIFs of one topic each. The Erlang side is `src/py_buffer.erl`.
//!
//! The embedding: [`on_load`] starts the interpreter ([`interpreter`], [`libpython`],
//! [`config`], [`erlang_module`]) and the worker threads ([`workers`], [`queue`]); [`call`]
//! holds the hidden NIFs behind `py:call/3,4,5`, `py:eval/2,3` and `py:exec/2` (exported by
//! module `py_buffer`: one library loads into one module), which queue a [`job`] and reply by
//! message; [`to_python`] and [`from_python`] convert terms. The Erlang side is `src/py.erl`.

mod atoms;
mod buffer;
mod call;
mod config;
mod create;
mod erlang_module;
mod errors;
mod from_python;
mod info;
mod interpreter;
mod job;
mod kept;
mod libpython;
mod notify;
mod on_load;
mod opaque;
mod owner;
mod pid;
mod python_error;
mod python_face;
mod queue;
mod read;
mod send;
mod subscribe;
mod test_hooks;
mod ticket;
mod timeslice;
mod to_python;
mod workers;
mod write;

rustler::init!("py_buffer", load = on_load::load);
