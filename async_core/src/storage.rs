//! Where the bytes live: a queue of immutable blocks plus one block being filled.
//!
//! Written bytes never move. A full block is frozen into a [`Bytes`] and a fresh block is
//! started, so growth never re-copies what was written and a [`Bytes`] handed out earlier stays
//! valid however the buffer grows. Positions are absolute offsets from the first byte ever
//! written. In bounded mode, blocks the reader is done with are released, and when nobody else
//! holds them their memory is reused for new writes, so steady streaming touches no new pages.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use memchr::memmem;

use crate::arena::Merge;
use crate::prefault::Prefault;

/// The smallest block allocated when the size is not known in advance.
pub(crate) const MIN_BLOCK: usize = 64 * 1024;
/// Blocks grow by doubling up to this size, so a large body is held in few blocks.
pub(crate) const MAX_BLOCK: usize = 4 * 1024 * 1024;
/// A known content length is pre-allocated up to this many bytes, so a hostile length cannot
/// reserve memory that never arrives.
pub(crate) const PREALLOC_CAP: usize = 16 * 1024 * 1024;
/// Writes of owned `Bytes` at least this long are kept as their own block instead of copied.
const ADOPT_MIN: usize = crate::sizes::KEEP_WITHOUT_COPY_MIN;

/// One frozen block and its absolute start offset.
#[derive(Debug)]
struct Segment {
    start: u64,
    bytes: Bytes,
}

impl Segment {
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

/// The block store of one buffer.
#[derive(Debug)]
pub(crate) struct Storage {
    sealed: VecDeque<Segment>,
    tail: BytesMut,
    /// How far the block being filled is faulted in ahead of the writes.
    prefault: Prefault,
    tail_start: u64,
    next_block: usize,
    /// Block size in bounded mode, where consumed blocks are recycled.
    recycle_block: Option<usize>,
    spare: Vec<BytesMut>,
    /// Total capacity of `spare`, kept within `spare_budget` (about the bound).
    spare_bytes: usize,
    spare_budget: usize,
    /// Released blocks still shared with someone (a reader copying outside the lock, a
    /// snapshot); retried for reuse when a block is needed.
    pending: VecDeque<Bytes>,
    spare_limit: usize,
    /// Where the last snapshot merged its blocks, kept so the next one copies only new bytes.
    merge: Option<Merge>,
    /// The index in `sealed` of the block the last lookup landed in: reads move forward
    /// through the blocks, so the next lookup is almost always this block or the next one,
    /// found without a binary search. Only a hint, checked before use (indices shift when
    /// blocks are released). An atomic only so `Storage` stays `Sync` (it is read and written
    /// under the buffer's lock, relaxed: no ordering is needed).
    hint: AtomicUsize,
}

impl Storage {
    /// Unbounded storage; `content_length` pre-sizes the first block (capped).
    pub(crate) fn new(content_length: Option<u64>, max_buffered: Option<usize>) -> Self {
        match max_buffered {
            Some(max) => {
                let block = max.clamp(4 * 1024, MIN_BLOCK);
                Self {
                    sealed: VecDeque::new(),
                    tail: BytesMut::new(),
                    prefault: Prefault::none(),
                    tail_start: 0,
                    next_block: block,
                    recycle_block: Some(block),
                    spare: Vec::new(),
                    spare_bytes: 0,
                    spare_budget: max.saturating_add(2 * block),
                    pending: VecDeque::new(),
                    spare_limit: max.div_ceil(block) + 2,
                    merge: None,
                    hint: AtomicUsize::new(0),
                }
            }
            None => {
                let first = match content_length {
                    Some(len) => usize::try_from(len).unwrap_or(usize::MAX).min(PREALLOC_CAP),
                    None => 0,
                };
                let tail = BytesMut::with_capacity(first);
                Self {
                    sealed: VecDeque::new(),
                    prefault: Prefault::fresh(&tail),
                    tail,
                    tail_start: 0,
                    next_block: MIN_BLOCK,
                    recycle_block: None,
                    spare: Vec::new(),
                    spare_bytes: 0,
                    spare_budget: 0,
                    pending: VecDeque::new(),
                    spare_limit: 0,
                    merge: None,
                    hint: AtomicUsize::new(0),
                }
            }
        }
    }

    /// The index of the first frozen block ending after `at` (`sealed.len()` if none): the
    /// block holding `at`, when a frozen one does.
    fn segment_index(&self, at: u64) -> usize {
        let hint = self.hint.load(Ordering::Relaxed);
        if let Some(s) = self.sealed.get(hint) {
            if s.start <= at {
                if at < s.end() {
                    return hint;
                }
                if self
                    .sealed
                    .get(hint + 1)
                    .is_some_and(|next| at < next.end())
                {
                    self.hint.store(hint + 1, Ordering::Relaxed);
                    return hint + 1;
                }
            }
        }
        let index = self.sealed.partition_point(|s| s.end() <= at);
        self.hint.store(index, Ordering::Relaxed);
        index
    }

    /// The held bytes from `at` to the end of the block holding `at`; empty at `end()` and
    /// for positions not held (callers then take their general path, which checks).
    pub(crate) fn piece_at(&self, at: u64) -> &[u8] {
        if at >= self.tail_start {
            let from = ((at - self.tail_start) as usize).min(self.tail.len());
            return &self.tail[from..];
        }
        match self.sealed.get(self.segment_index(at)) {
            Some(segment) if segment.start <= at => &segment.bytes[(at - segment.start) as usize..],
            _ => &[],
        }
    }

    /// Total bytes ever written.
    pub(crate) fn end(&self) -> u64 {
        self.tail_start + self.tail.len() as u64
    }

    /// The first byte still held.
    pub(crate) fn first(&self) -> u64 {
        self.sealed.front().map_or(self.tail_start, |s| s.start)
    }

    /// Bytes currently held in memory (written and not yet released).
    pub(crate) fn retained(&self) -> u64 {
        self.end() - self.first()
    }

    /// Appends a copy of `data`.
    #[inline]
    pub(crate) fn append(&mut self, mut data: &[u8]) {
        if data.len() <= self.tail.capacity() - self.tail.len() {
            // The common case (a small write into a block with room): one copy, no loop.
            self.prefault.before_write(&self.tail, data.len());
            self.tail.extend_from_slice(data);
            return;
        }
        while !data.is_empty() {
            let room = self.tail.capacity() - self.tail.len();
            if room == 0 {
                self.start_new_block(data.len());
                continue;
            }
            let n = room.min(data.len());
            self.prefault.before_write(&self.tail, n);
            self.tail.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
    }

    /// Appends owned bytes, keeping large ones as their own block without copying.
    pub(crate) fn append_bytes(&mut self, data: Bytes) {
        if data.len() < ADOPT_MIN {
            self.append(&data);
            return;
        }
        self.seal_tail_prefix();
        let start = self.tail_start;
        self.tail_start += data.len() as u64;
        self.sealed.push_back(Segment { start, bytes: data });
    }

    fn start_new_block(&mut self, wanted: usize) {
        let full = std::mem::take(&mut self.tail);
        if !full.is_empty() {
            let len = full.len() as u64;
            self.sealed.push_back(Segment {
                start: self.tail_start,
                bytes: full.freeze(),
            });
            self.tail_start += len;
        }
        (self.tail, self.prefault) = match self.recycle_block {
            Some(block) => match self.pop_spare(block) {
                Some(warm) => (warm, Prefault::none()),
                None => Self::fresh_block(block),
            },
            None => {
                let size = self.next_block.max(wanted.min(MAX_BLOCK));
                self.next_block = (self.next_block * 2).min(MAX_BLOCK);
                Self::fresh_block(size)
            }
        };
    }

    /// A newly allocated block to fill, and how to fault it in.
    fn fresh_block(capacity: usize) -> (BytesMut, Prefault) {
        let block = BytesMut::with_capacity(capacity);
        let prefault = Prefault::fresh(&block);
        (block, prefault)
    }

    /// Freezes the written part of the block being filled into its own segment; the rest of
    /// the block keeps being filled.
    fn seal_tail_prefix(&mut self) {
        if self.tail.is_empty() {
            return;
        }
        let bytes = self.tail.split().freeze();
        let len = bytes.len() as u64;
        self.sealed.push_back(Segment {
            start: self.tail_start,
            bytes,
        });
        self.tail_start += len;
    }

    /// Releases whole blocks that end at or before `pos`; in bounded mode their memory is kept
    /// for reuse when nobody else holds it.
    pub(crate) fn release_before(&mut self, pos: u64) {
        if self.merge.as_ref().is_some_and(|m| m.end() <= pos) {
            self.merge = None;
        }
        while self.sealed.front().is_some_and(|s| s.end() <= pos) {
            let Some(segment) = self.sealed.pop_front() else {
                break;
            };
            self.recycle(segment.bytes);
        }
    }

    fn recycle(&mut self, bytes: Bytes) {
        let Some(block) = self.recycle_block else {
            return;
        };
        if self.spare_bytes >= self.spare_budget {
            return;
        }
        match bytes.try_into_mut() {
            Ok(mut mem) => {
                mem.clear();
                // A block split into pieces comes back as its last piece: reclaim the whole
                // allocation (no copy, no allocation: the block is empty and unique).
                if mem.try_reclaim(block) {
                    self.push_spare(mem);
                }
            }
            Err(shared) => {
                // Oldest out: a block that stays shared for long (a snapshot, an adopted
                // `Bytes` that can never be reused) must not crowd out fresher ones.
                if self.pending.len() >= self.spare_limit {
                    self.pending.pop_front();
                }
                self.pending.push_back(shared);
            }
        }
    }

    /// Keeps an empty block for reuse, unless the spare blocks already hold about the bound.
    fn push_spare(&mut self, mem: BytesMut) {
        if self.spare_bytes + mem.capacity() <= self.spare_budget {
            self.spare_bytes += mem.capacity();
            self.spare.push(mem);
        }
    }

    /// A recycled block able to hold `len` bytes: a spare one, or a released one nobody else
    /// holds any more.
    fn pop_spare(&mut self, len: usize) -> Option<BytesMut> {
        if let Some(i) = self.spare.iter().rposition(|m| m.capacity() >= len) {
            let mem = self.spare.swap_remove(i);
            self.spare_bytes -= mem.capacity();
            return Some(mem);
        }
        let block = self.recycle_block?;
        for _ in 0..self.pending.len() {
            let bytes = self.pending.pop_front()?;
            match bytes.try_into_mut() {
                Ok(mut mem) => {
                    mem.clear();
                    if mem.try_reclaim(block) {
                        if mem.capacity() >= len {
                            return Some(mem);
                        }
                        self.push_spare(mem);
                    }
                }
                Err(shared) => self.pending.push_back(shared),
            }
        }
        None
    }

    /// An empty block able to hold `len` bytes, for a writer to fill outside the lock; a
    /// recycled one when there is one big enough.
    pub(crate) fn take_block(&mut self, len: usize) -> BytesMut {
        let block = self.recycle_block.unwrap_or(0);
        if let Some(mem) = self.pop_spare(len) {
            return mem;
        }
        BytesMut::with_capacity(len.max(block))
    }

    /// Gives back a block taken with [`Storage::take_block`] and not used.
    pub(crate) fn return_block(&mut self, mut mem: BytesMut) {
        mem.clear();
        if self.recycle_block.is_some() {
            self.push_spare(mem);
        }
    }

    /// Appends a block filled outside the lock, after whatever the tail holds.
    pub(crate) fn push_block(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.seal_tail_prefix();
        let start = self.tail_start;
        self.tail_start += bytes.len() as u64;
        self.sealed.push_back(Segment { start, bytes });
    }

    /// The frozen blocks holding `[start, start + len)`, as shared handles, when the range
    /// lies in at most `N` frozen blocks (`None` otherwise, e.g. when it reaches the block
    /// being filled). Lets a reader copy the bytes out after the lock is released.
    pub(crate) fn frozen_pieces<const N: usize>(
        &self,
        start: u64,
        len: usize,
    ) -> Option<[Bytes; N]> {
        let end = start + len as u64;
        if end > self.tail_start {
            return None;
        }
        let mut out: [Bytes; N] = std::array::from_fn(|_| Bytes::new());
        let mut at = start;
        let first_index = self.segment_index(at);
        for (slot, segment) in out.iter_mut().zip(self.sealed.range(first_index..)) {
            let from = (at - segment.start) as usize;
            let to = (end.min(segment.end()) - segment.start) as usize;
            *slot = segment.bytes.slice(from..to);
            at = segment.start + to as u64;
            if at >= end {
                return Some(out);
            }
        }
        (at >= end).then_some(out)
    }

    /// Calls `f` on each contiguous piece of `[start, start + len)`, in order.
    ///
    /// # Panics
    /// If the range is not held (a caller bug: positions are checked against `first`/`end`).
    pub(crate) fn for_each_slice(&self, start: u64, len: usize, mut f: impl FnMut(&[u8])) {
        let _ = self.try_for_each_slice(start, len, |piece| {
            f(piece);
            ControlFlow::<()>::Continue(())
        });
    }

    /// As [`Storage::for_each_slice`], stopping at the first piece for which `f` breaks: a
    /// search that found what it looks for does not walk the remaining blocks (a body kept as
    /// a thousand 64 KiB blocks would otherwise cost a thousand steps per `readline`).
    pub(crate) fn try_for_each_slice<B>(
        &self,
        start: u64,
        len: usize,
        mut f: impl FnMut(&[u8]) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let end = start + len as u64;
        assert!(start >= self.first() && end <= self.end(), "range not held");
        if len == 0 {
            return ControlFlow::Continue(());
        }
        // The common case (a line, a small read): the range lies in one block.
        let piece = self.piece_at(start);
        if piece.len() >= len {
            return f(&piece[..len]);
        }
        let mut at = start;
        let first_index = self.segment_index(at);
        for segment in self.sealed.range(first_index..) {
            if at >= end {
                return ControlFlow::Continue(());
            }
            let from = (at - segment.start) as usize;
            let to = (end.min(segment.end()) - segment.start) as usize;
            f(&segment.bytes[from..to])?;
            at = segment.start + to as u64;
        }
        if at < end {
            let from = (at - self.tail_start) as usize;
            let to = (end - self.tail_start) as usize;
            f(&self.tail[from..to])?;
        }
        ControlFlow::Continue(())
    }

    /// The bytes of `[start, start + len)` as one `Bytes`: a shared slice when they lie in one
    /// frozen block, otherwise a copy.
    pub(crate) fn to_bytes(&self, start: u64, len: usize) -> Bytes {
        if len == 0 {
            return Bytes::new();
        }
        let index = self.segment_index(start);
        if let Some(segment) = self.sealed.get(index) {
            if segment.start <= start && start + len as u64 <= segment.end() {
                let from = (start - segment.start) as usize;
                return segment.bytes.slice(from..from + len);
            }
        }
        let mut out = BytesMut::with_capacity(len);
        self.for_each_slice(start, len, |piece| out.extend_from_slice(piece));
        out.freeze()
    }

    /// `[start, end())` as one contiguous, immutable `Bytes` that later writes never touch;
    /// `None` (nothing changed) when the memory to merge the blocks into cannot be allocated.
    ///
    /// Blocks spanned by the range are merged into one block once, so repeated exports of a
    /// growing buffer do not copy the same bytes again and again.
    pub(crate) fn contiguous_from(&mut self, start: u64) -> Option<Bytes> {
        let end = self.end();
        if start == end {
            return Some(Bytes::new());
        }
        self.seal_tail_prefix();
        let first_index = self.segment_index(start);
        if self.sealed.len() - first_index > 1 {
            let merged_start = self.sealed[first_index].start;
            let mut merge = match self.merge.take() {
                Some(m) if m.can_extend(merged_start, end) => m,
                old => match Merge::try_new(merged_start, (end - merged_start) as usize) {
                    Some(m) => m,
                    None => {
                        self.merge = old;
                        return None;
                    }
                },
            };
            let from = merge.end();
            self.for_each_slice(from, (end - from) as usize, |piece| merge.append(piece));
            let bytes = merge.bytes_from(merged_start);
            self.merge = Some(merge);
            self.sealed.truncate(first_index);
            self.sealed.push_back(Segment {
                start: merged_start,
                bytes,
            });
        }
        let segment = &self.sealed[first_index];
        Some(segment.bytes.slice((start - segment.start) as usize..))
    }

    /// The offset of the first `byte` in `[start, end)`, if any.
    pub(crate) fn find_byte(&self, byte: u8, start: u64, end: u64) -> Option<u64> {
        if start >= end {
            return None;
        }
        // The common case (the next line ends in the block holding `start`): one search.
        let piece = self.piece_at(start);
        let first = &piece[..piece.len().min((end - start) as usize)];
        if let Some(i) = memchr::memchr(byte, first) {
            return Some(start + i as u64);
        }
        let start = start + first.len() as u64;
        if start >= end {
            return None;
        }
        let mut at = start;
        let found = self.try_for_each_slice(start, (end - start) as usize, |piece| {
            if let Some(i) = memchr::memchr(byte, piece) {
                return ControlFlow::Break(at + i as u64);
            }
            at += piece.len() as u64;
            ControlFlow::Continue(())
        });
        match found {
            ControlFlow::Break(at) => Some(at),
            ControlFlow::Continue(()) => None,
        }
    }

    /// The offset of the first occurrence of `needle` lying wholly inside `[start, end)`.
    pub(crate) fn find(&self, needle: &[u8], start: u64, end: u64) -> Option<u64> {
        match needle.len() {
            0 => return (start <= end).then_some(start),
            1 => return self.find_byte(needle[0], start, end),
            _ => {}
        }
        if end < start || end - start < needle.len() as u64 {
            return None;
        }
        let finder = memmem::Finder::new(needle);
        let overlap = needle.len() - 1;
        // The last `overlap` bytes seen, to catch a needle split across two pieces.
        let mut carry: Vec<u8> = Vec::with_capacity(2 * overlap);
        let mut at = start;
        let found = self.try_for_each_slice(start, (end - start) as usize, |piece| {
            if !carry.is_empty() {
                let carried = carry.len();
                carry.extend_from_slice(&piece[..piece.len().min(overlap)]);
                if let Some(i) = finder.find_iter(&carry).find(|&i| i < carried) {
                    return ControlFlow::Break(at - carried as u64 + i as u64);
                }
                carry.truncate(carried);
            }
            if let Some(i) = finder.find(piece) {
                return ControlFlow::Break(at + i as u64);
            }
            if piece.len() >= overlap {
                carry.clear();
                carry.extend_from_slice(&piece[piece.len() - overlap..]);
            } else {
                carry.extend_from_slice(piece);
                let excess = carry.len().saturating_sub(overlap);
                carry.drain(..excess);
            }
            at += piece.len() as u64;
            ControlFlow::Continue(())
        });
        match found {
            ControlFlow::Break(at) => Some(at),
            ControlFlow::Continue(()) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(storage: &Storage, start: u64, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        storage.for_each_slice(start, len, |p| out.extend_from_slice(p));
        out
    }

    #[test]
    fn growth_keeps_earlier_bytes_in_place() {
        let mut s = Storage::new(None, None);
        s.append(b"hello");
        let snapshot = s.contiguous_from(0).unwrap();
        let before = snapshot.as_ptr();
        s.append(&vec![7u8; 3 * MIN_BLOCK]);
        assert_eq!(&snapshot[..], b"hello");
        assert_eq!(snapshot.as_ptr(), before);
        assert_eq!(s.end(), 5 + 3 * MIN_BLOCK as u64);
        assert_eq!(collect(&s, 0, 5), b"hello");
    }

    #[test]
    fn small_writes_through_prefaulted_blocks_keep_every_byte() {
        // A pre-sized block (faulted in ahead of the writes) then growing blocks (the later
        // ones large enough to be faulted in too), written in pieces that straddle every
        // chunk and block boundary.
        let total = PREALLOC_CAP / 8 + 5 * MIN_BLOCK + 123;
        let mut s = Storage::new(Some((PREALLOC_CAP / 8) as u64), None);
        let expected: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        for piece in expected.chunks(1000) {
            s.append(piece);
        }
        assert_eq!(s.end(), total as u64);
        assert_eq!(collect(&s, 0, total), expected);
        assert_eq!(collect(&s, 65_535, 3), expected[65_535..65_538]);
    }

    #[test]
    fn find_sees_a_needle_split_over_many_small_blocks() {
        let mut s = Storage::new(None, None);
        for piece in [&b"xx-"[..], b"-b", b"o", b"u", b"ndary--", b"tail"] {
            s.append_bytes(Bytes::copy_from_slice(piece));
            s.seal_tail_prefix();
        }
        assert_eq!(s.find(b"--boundary--", 0, s.end()), Some(2));
        assert_eq!(s.find(b"--boundary--", 3, s.end()), None);
        assert_eq!(s.find(b"tail", 0, s.end()), Some(14));
        assert_eq!(s.find(b"tail", 0, s.end() - 1), None);
        assert_eq!(s.find_byte(b'b', 0, s.end()), Some(4));
    }

    #[test]
    fn bounded_storage_reuses_consumed_blocks() {
        let mut s = Storage::new(None, Some(8 * 1024));
        let block = 8 * 1024;
        s.append(&vec![1u8; block]);
        s.append(&[2u8; 10]);
        let first_block = collect(&s, 0, 1);
        assert_eq!(first_block, [1]);
        s.release_before(block as u64);
        assert_eq!(s.first(), block as u64);
        assert_eq!(s.spare.len(), 1);
        s.append(&vec![3u8; block]);
        assert!(s.spare.is_empty(), "the released block was reused");
        assert_eq!(s.retained(), block as u64 + 10);
    }

    #[test]
    fn a_block_released_while_shared_is_reused_once_let_go() {
        let block = 8 * 1024;
        let mut s = Storage::new(None, Some(block));
        let mut mem = s.take_block(block);
        mem.extend_from_slice(&vec![1u8; block]);
        let addr = mem.as_ptr();
        s.push_block(mem.freeze());
        let held = s.frozen_pieces::<2>(0, block).unwrap();
        s.release_before(block as u64);
        assert!(
            s.spare.is_empty() && s.pending.len() == 1,
            "still shared: pending"
        );
        drop(held);
        let again = s.take_block(block);
        assert_eq!(again.as_ptr(), addr, "the same memory, reclaimed");
        assert!(again.capacity() >= block && again.is_empty());
    }

    #[test]
    fn blocks_that_stay_shared_do_not_crowd_out_reusable_ones() {
        let block = 4 * 1024;
        let mut s = Storage::new(None, Some(block));
        let limit = s.spare_limit;
        // Adopted static bytes can never be reused; more of them than the pending list holds.
        for _ in 0..limit + 3 {
            s.append_bytes(Bytes::from_static(&[9u8; 4 * 1024]));
        }
        let end = s.end();
        s.release_before(end);
        assert_eq!(s.pending.len(), limit);
        let mut mem = s.take_block(block);
        mem.extend_from_slice(&[1u8; 4 * 1024]);
        let addr = mem.as_ptr();
        s.push_block(mem.freeze());
        let held = s.frozen_pieces::<1>(end, block).unwrap();
        s.release_before(s.end());
        drop(held);
        assert_eq!(
            s.take_block(block).as_ptr(),
            addr,
            "the fresh block is found"
        );
    }

    #[test]
    fn contiguous_from_merges_blocks_once() {
        let mut s = Storage::new(None, None);
        s.append(&vec![1u8; MIN_BLOCK]);
        s.append(&[2u8; 3]);
        let all = s.contiguous_from(0).unwrap();
        assert_eq!(all.len(), MIN_BLOCK + 3);
        assert_eq!(s.sealed.len(), 1);
        let again = s.contiguous_from(1).unwrap();
        assert_eq!(again.as_ptr(), all[1..].as_ptr());
    }
}
