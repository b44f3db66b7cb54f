//! The one place that chooses between `std` and `loom` synchronisation primitives.
//!
//! Everything in the core that loom must see (the state lock, the writer count, the shared
//! `Arc`) is imported from here, so `RUSTFLAGS="--cfg loom"` model-checks the real code.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};
