//! The buffer NIFs: Erlang processes create buffers, write HTTP body chunks into them, read
//! them, and learn about readiness through messages. The Erlang side is `src/py_buffer.erl`.
//!
//! [`resource`] is the resource ([`Buffer`] around [`Inner`]) and [`resource_type`] its
//! hand-registered ERTS type (borrowed as `&Buffer`, owned as [`BufferArc`]); [`notify`] turns core edges
//! into `{active, once}`-style messages; [`owner`] aborts bodies whose owner process died;
//! [`kept`] holds large binaries kept without copying; [`errors`] maps core errors to terms
//! and [`stored_reason`] keeps abort reasons once, bounded;
//! [`timeslice`] charges reductions; the remaining modules hold the NIFs of one topic each
//! ([`create`], [`write`], [`read`], [`info`], [`subscribe`]).

pub mod create;
pub mod errors;
pub mod info;
pub mod kept;
pub mod notify;
pub mod owner;
pub mod read;
pub mod resource;
pub mod resource_type;
pub mod stored_reason;
pub mod subscribe;
pub mod timeslice;
pub mod write;

pub use resource::{live, lock, Buffer, Inner, OwnerSlot};
pub use resource_type::BufferArc;
