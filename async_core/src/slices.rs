//! A borrowed view of a byte range that may span several blocks.

use bytes::Bytes;

use crate::storage::Storage;

/// The bytes a read takes, borrowed from the buffer while its lock is held.
///
/// Bindings use this to copy straight into their own objects (a Python `bytes`, an Erlang
/// binary) with one copy; Rust callers usually get a [`Bytes`] instead.
pub struct Slices<'a> {
    store: &'a Storage,
    start: u64,
    len: usize,
}

impl<'a> Slices<'a> {
    pub(crate) fn new(store: &'a Storage, start: u64, len: usize) -> Self {
        Self { store, start, len }
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no bytes are taken.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f` with each contiguous piece, in order.
    pub fn for_each(&self, f: impl FnMut(&[u8])) {
        self.store.for_each_slice(self.start, self.len, f);
    }

    /// Copies the bytes into the front of `dst`.
    ///
    /// # Panics
    /// If `dst` is shorter than [`Slices::len`].
    pub fn copy_to_slice(&self, dst: &mut [u8]) {
        assert!(dst.len() >= self.len, "destination too short");
        let mut at = 0;
        self.for_each(|piece| {
            dst[at..at + piece.len()].copy_from_slice(piece);
            at += piece.len();
        });
    }

    /// The bytes as one [`Bytes`]: shared without copying when they lie in one frozen block.
    pub fn to_bytes(&self) -> Bytes {
        self.store.to_bytes(self.start, self.len)
    }

    /// The bytes as a `Vec`.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        self.for_each(|piece| out.extend_from_slice(piece));
        out
    }

    /// Splits the bytes after each `\n` into lines, each a [`Bytes`].
    pub fn to_lines(&self) -> Vec<Bytes> {
        let all = self.to_bytes();
        let mut lines = Vec::new();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &all) {
            lines.push(all.slice(start..=end));
            start = end + 1;
        }
        if start < all.len() {
            lines.push(all.slice(start..));
        }
        lines
    }
}

impl std::fmt::Debug for Slices<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slices")
            .field("start", &self.start)
            .field("len", &self.len)
            .finish()
    }
}
