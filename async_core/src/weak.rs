//! Handles that do not keep a buffer alive, for observers and other callbacks the buffer owns.
//!
//! An [`crate::Observer`] is owned by the buffer. If it captured a [`Reader`] or a [`Writer`],
//! the buffer would own a handle of itself: a reference cycle that leaks the buffer, keeps the
//! last-reader close from ever happening (a bounded writer would wait forever) and keeps the
//! last-writer abort from ever happening (a reader would wait forever). A weak handle is not
//! counted as a reader or writer and does not keep the memory alive; it is upgraded for the
//! duration of one call.

use crate::reader::Reader;
use crate::shared::Shared;
use crate::writer::Writer;

/// A reader handle that does not keep the buffer alive: see [`Reader::downgrade`].
#[derive(Clone)]
pub struct WeakReader(pub(crate) std::sync::Weak<Shared>);

impl WeakReader {
    /// A counted reader handle, while the buffer exists. Dropping it may be the last reader
    /// drop, which closes the reading side (a reader upgraded after that sees it closed).
    pub fn upgrade(&self) -> Option<Reader> {
        self.0.upgrade().map(Reader::from_shared)
    }
}

/// A writer handle that does not keep the buffer alive: see [`Writer::downgrade`].
#[derive(Clone)]
pub struct WeakWriter(pub(crate) std::sync::Weak<Shared>);

impl WeakWriter {
    /// A counted writer handle, while the buffer exists. Dropping it unclosed may be the last
    /// writer drop, which aborts the body (a no-op once it ended).
    pub fn upgrade(&self) -> Option<Writer> {
        self.0.upgrade().map(|shared| {
            shared.add_writer();
            Writer::from_shared(shared)
        })
    }
}

impl std::fmt::Debug for WeakReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeakReader")
    }
}

impl std::fmt::Debug for WeakWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeakWriter")
    }
}
