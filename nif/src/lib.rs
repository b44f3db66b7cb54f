//! The Erlang NIF `py_buffer`: Erlang processes create buffers, write HTTP body chunks into
//! them, read them, and learn about readiness through messages.
//!
//! The buffer itself is `py-buffer-core`; this crate maps it onto Erlang terms. One file per
//! topic: [`buffer`] is the resource, [`notify`] turns core edges into `{active, once}`-style
//! messages, [`owner`] aborts bodies whose owner process died, and the remaining modules hold
//! the NIFs of one topic each. The Erlang side is `src/py_buffer.erl`.

mod atoms;
mod buffer;
mod create;
mod errors;
mod info;
mod kept;
mod notify;
mod owner;
mod read;
mod subscribe;
mod test_hooks;
mod timeslice;
mod write;

rustler::init!("py_buffer");
