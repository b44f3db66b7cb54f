//! The embedded CPython interpreter behind Erlang module `py` (`src/py.erl`).
//!
//! [`crate::on_load`] starts the interpreter ([`interpreter`], [`libpython`], [`config`],
//! [`erlang_module`]) and the worker threads ([`workers`], [`queue`]; [`cpu_demand`] tells
//! the shared pool when to grow); [`call`] holds the hidden NIFs behind `py:call/3,4,5`,
//! `py:eval/2,3` and `py:exec/2`, which queue a [`job`] and reply by message ([`ticket`]);
//! [`to_python`] and [`from_python`] convert terms, with [`pid`], [`opaque`] and
//! [`python_face`] the Python objects Erlang values become ([`handle`] the resource a
//! `PyBuffer` made in Python becomes; [`release`] drops those Erlang let go of);
//! [`python_error`] turns exceptions into terms; [`lists`] reads lists without panicking on
//! improper ones; [`send`] is `erlang.send` for Python code; [`interrupt`] raises
//! `TimeoutError` in timed-out calls; [`inbox`] lets a Python thread of the app's own (an
//! event loop's) run the calls meant for it; [`finalize`] stops the interpreter.

pub mod big_map;
pub mod call;
pub mod config;
pub mod cpu_demand;
pub mod erlang_module;
pub mod finalize;
pub mod from_python;
pub mod handle;
pub mod inbox;
pub mod interpreter;
pub mod interrupt;
pub mod job;
pub mod libpython;
pub mod lists;
pub mod opaque;
pub mod pid;
pub mod python_error;
pub mod python_face;
pub mod queue;
pub mod release;
pub mod send;
pub mod ticket;
pub mod to_python;
pub mod workers;
