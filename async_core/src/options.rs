//! How a buffer is configured at creation.

/// Creation options for [`crate::channel`].
///
/// ```
/// # if py_buffer_core::__built_for_loom() { return; } // loom locks need a loom model
/// let options = py_buffer_core::Options::new().content_length(5).max_buffered(1 << 20);
/// let (writer, reader) = py_buffer_core::channel(options);
/// writer.try_write(b"hello").unwrap();
/// assert!(reader.at_eof() == false && reader.readable_amount() == 5);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub(crate) content_length: Option<u64>,
    pub(crate) max_buffered: Option<usize>,
}

impl Options {
    /// Unbounded, unknown length: the seed's default (every byte kept, seekable from 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// The body is exactly this long: storage is reserved once (capped), EOF comes when it has
    /// all arrived, a write beyond it fails, and a `close()` before it is a truncated body.
    #[must_use]
    pub fn content_length(mut self, length: u64) -> Self {
        self.content_length = Some(length);
        self
    }

    /// Bounded mode: at most this many unread bytes are held; consumed bytes are released and
    /// a writer waits (or is refused) until the reader drains. A bound of 0 is treated as 1.
    #[must_use]
    pub fn max_buffered(mut self, bound: usize) -> Self {
        self.max_buffered = Some(bound.max(1));
        self
    }
}
