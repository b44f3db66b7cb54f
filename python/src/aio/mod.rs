//! asyncio: awaitable reads woken by the writer through the event loop, without polling.
//!
//! A read whose data is already there returns a [`done::Done`] awaitable that completes at
//! once, without a trip through the loop. Otherwise it returns a [`waiting::Waiting`]
//! awaitable: when a task awaits it, it polls the core's readiness operation with a Rust
//! `Waker` and yields a loop future. The writer's `wake()` never takes the GIL: it queues the
//! operation's id and rings a descriptor the loop watches ([`hub::Hub`], one per
//! loop). The loop thread then re-polls the operation and resolves the future; the task
//! resumes and takes the bytes. Bytes are taken only by a resumed, non-cancelled await, so a
//! cancelled await consumes nothing.
//!
//! Writers await the same way ([`write`]): `awrite` appends what fits and parks on the core's
//! "room" operation; the reader's drain rings the same hub. Reads and writes that wait share
//! one awaitable protocol ([`awaitable`]): awaited once, cancelled without taking anything.

pub mod awaitable;
pub mod done;
pub mod doorbell;
pub mod hub;
pub mod methods;
pub mod request;
pub mod throw;
pub mod waiting;
pub mod write;
