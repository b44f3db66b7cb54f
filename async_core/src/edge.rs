//! Readiness edges and the observer a binding registers to hear about them.
//!
//! Bindings that cannot wait on a listener (the Erlang NIF turns edges into messages) register
//! an [`Observer`]. The buffer calls it after the state change is visible and after its lock is
//! released, so an observer may call back into the buffer.

/// A transition that may let someone make progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Edge {
    /// Bytes were appended: a reader can read more.
    Readable,
    /// In bounded mode, the reader made room after a writer was refused or had to wait.
    Writable,
    /// The body ended: closed, aborted, or the content length arrived in full.
    Eof,
    /// The reader closed the buffer: further writes fail.
    ReaderClosed,
    /// A reader first had to wait for bytes that have not arrived while the body was not
    /// complete (a blocking read, an async read registering its listener, a non-blocking
    /// attempt that says "wait"). Raised once per buffer: a server answers
    /// `Expect: 100-continue` when the application first reads the body.
    Demand,
}

impl Edge {
    const ALL: [Edge; 5] = [
        Edge::Readable,
        Edge::Writable,
        Edge::Eof,
        Edge::ReaderClosed,
        Edge::Demand,
    ];

    const fn bit(self) -> u8 {
        match self {
            Edge::Readable => 1,
            Edge::Writable => 2,
            Edge::Eof => 4,
            Edge::ReaderClosed => 8,
            Edge::Demand => 16,
        }
    }
}

/// Receives readiness edges.
///
/// Called on the thread that caused the edge, without the buffer's lock held. Keep it short:
/// it runs inside a writer's or reader's call.
///
/// # Leaks
/// The buffer owns its observer. An observer that captures a counted handle of its own buffer
/// (a [`crate::Reader`] or [`crate::Writer`]) makes a reference cycle: the buffer is never
/// freed, and the handle it holds also keeps the last-reader close (a bounded writer then
/// waits forever) or the last-writer abort (a reader then waits forever) from happening.
/// Capture a weak handle instead ([`crate::Reader::downgrade`], [`crate::Writer::downgrade`])
/// and upgrade it inside the call.
///
/// The buffer releases its observer as soon as no edge can come any more: once the reading
/// side closed ([`Edge::ReaderClosed`]) and the end of the body was announced
/// ([`Edge::Eof`]). That breaks a cycle whose body is ended on both sides explicitly, but not
/// one whose handles are merely dropped. A leak shows up under LeakSanitizer (`make
/// sanitize`, docs/reliability.md).
pub trait Observer: Send + Sync + 'static {
    /// Called once per edge.
    fn on_edge(&self, edge: Edge);

    /// Whether `edge` may need [`Observer::on_edge`] at all: asked with the buffer's lock held,
    /// right after the state change that raised it, so an observer that arms itself and then
    /// reads the buffer's state (which takes the lock) either sees that change or is seen
    /// armed here. `false` skips the call (and the reference count traffic of delivering it
    /// after the lock). Must be quick and must not touch the buffer. The default is `true`.
    fn wants(&self, edge: Edge) -> bool {
        let _ = edge;
        true
    }
}

impl<F> Observer for F
where
    F: Fn(Edge) + Send + Sync + 'static,
{
    fn on_edge(&self, edge: Edge) {
        self(edge)
    }
}

/// A small set of edges collected under the lock and delivered after it is released.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EdgeSet(u8);

impl EdgeSet {
    pub(crate) fn insert(&mut self, edge: Edge) {
        self.0 |= edge.bit();
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = Edge> {
        Edge::ALL.into_iter().filter(move |e| self.0 & e.bit() != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_set_delivers_each_edge_once_in_a_fixed_order() {
        let mut set = EdgeSet::default();
        assert!(set.is_empty());
        set.insert(Edge::Eof);
        set.insert(Edge::Readable);
        set.insert(Edge::Eof);
        assert_eq!(set.iter().collect::<Vec<_>>(), [Edge::Readable, Edge::Eof]);
    }
}
