//! The append-only memory behind merged snapshots ([`crate::Reader::snapshot`]).
//!
//! A snapshot of unread bytes spanning several blocks must be one contiguous [`Bytes`], so the
//! blocks are merged by copying. Merging into a fresh allocation each time made alternating
//! "write, export" rounds quadratic: every export re-copied every unread byte. The merge
//! instead copies into an arena with spare room (grown by doubling): the next export copies
//! only the bytes written since, right after the previous ones, and hands out one `Bytes` over
//! both. Bytes already handed out are never written again; appends only touch the arena's
//! unused tail, so exports stay immutable while the arena grows.

use std::sync::Arc;

use bytes::Bytes;

/// A fixed-capacity allocation filled front to back; never reallocated.
pub(crate) struct Arena {
    ptr: *mut u8,
    cap: usize,
}

// SAFETY: the arena is plain heap memory. Its filled prefix is only read (through `View`s);
// its unfilled tail is only written by `Merge::append`, which holds the storage exclusively
// (`&mut`, under the buffer's lock) and never writes below the filled length, so no byte is
// ever written while another thread can read it.
unsafe impl Send for Arena {}
// SAFETY: see `Send`: shared access only reads the filled prefix.
unsafe impl Sync for Arena {}

impl Arena {
    /// `None` when the memory cannot be allocated (a binding then raises `MemoryError`
    /// instead of the process aborting).
    fn try_new(cap: usize) -> Option<Self> {
        let mut memory = Vec::<u8>::new();
        memory.try_reserve_exact(cap).ok()?;
        let mut memory = std::mem::ManuallyDrop::new(memory);
        Some(Self {
            ptr: memory.as_mut_ptr(),
            cap: memory.capacity(),
        })
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `cap` come from a `Vec<u8>` that was never freed; a length of 0
        // drops no elements (u8 needs none anyway).
        drop(unsafe { Vec::from_raw_parts(self.ptr, 0, self.cap) });
    }
}

/// A read-only window on an arena's filled prefix, the owner of an exported `Bytes`.
struct View {
    arena: Arc<Arena>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for View {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `[start, start + len)` lies in the arena's filled prefix (checked when the
        // view is made), which is initialised and never written again; `arena` keeps the
        // memory alive as long as this view.
        unsafe { std::slice::from_raw_parts(self.arena.ptr.add(self.start), self.len) }
    }
}

/// The storage's current merge arena: which absolute offsets it holds.
pub(crate) struct Merge {
    arena: Arc<Arena>,
    /// Absolute offset of the arena's first byte.
    base: u64,
    /// Bytes filled so far.
    filled: usize,
}

impl std::fmt::Debug for Merge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merge")
            .field("base", &self.base)
            .field("filled", &self.filled)
            .field("cap", &self.arena.cap)
            .finish()
    }
}

/// The smallest arena allocated.
const MIN_ARENA: usize = 64 * 1024;

impl Merge {
    /// An empty arena for bytes from `base` on, with room for at least `need` bytes (twice
    /// that, so the following exports append without reallocating; `need` alone when twice
    /// cannot be had); `None` when not even that can be allocated.
    pub(crate) fn try_new(base: u64, need: usize) -> Option<Self> {
        let arena = Arena::try_new(need.saturating_mul(2).max(MIN_ARENA))
            .or_else(|| Arena::try_new(need))?;
        Some(Self {
            arena: Arc::new(arena),
            base,
            filled: 0,
        })
    }

    /// The absolute offset just past the bytes held.
    pub(crate) fn end(&self) -> u64 {
        self.base + self.filled as u64
    }

    /// Whether this arena can serve a merge of `[start, end)`: it holds `start`, the bytes up
    /// to its end are those of the stream (positions are absolute and written bytes never
    /// change), and the rest fits in its spare room.
    pub(crate) fn can_extend(&self, start: u64, end: u64) -> bool {
        self.base <= start && start <= self.end() && end - self.base <= self.arena.cap as u64
    }

    /// Appends `piece` after the filled bytes. The caller checked the room ([`Merge::can_extend`]).
    pub(crate) fn append(&mut self, piece: &[u8]) {
        assert!(
            piece.len() <= self.arena.cap - self.filled,
            "arena overflow"
        );
        // SAFETY: the destination `[filled, filled + len)` is inside the allocation (checked
        // above) and past every byte a `View` covers, so nobody reads it; the source is
        // another allocation (a block of the storage), so the ranges do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                piece.as_ptr(),
                self.arena.ptr.add(self.filled),
                piece.len(),
            );
        }
        self.filled += piece.len();
    }

    /// The held bytes from absolute offset `start` to the end, as one shared `Bytes`.
    pub(crate) fn bytes_from(&self, start: u64) -> Bytes {
        let from = (start - self.base) as usize;
        assert!(from <= self.filled, "not held");
        Bytes::from_owner(View {
            arena: Arc::clone(&self.arena),
            start: from,
            len: self.filled - from,
        })
    }
}
