//! Faulting in a fresh block's pages in batches, just ahead of the writes that fill it.
//!
//! A large block (a body's pre-sized first block, a growing buffer's 128 KiB–4 MiB blocks)
//! comes from `mmap` untouched: every 4 KiB page of it costs a page fault on its first write,
//! 1.5–3 µs each on a virtual machine (a trap, a zeroed page, the return). Small writes pay
//! that in pieces (a 1 KiB write one fault in four: most of its time). Linux (5.14+) can fault
//! a range in one system call (`MADV_POPULATE_WRITE`), without a trap per page: when a write
//! reaches pages not yet faulted, the next [`CHUNK`] is populated at once (measured on this
//! machine, `benches/prefault/fault_cost.c`: 1 KiB writes into fresh memory 561 → 418 ns
//! each; `docs/benchmarks.md`, "Small writes", third round).
//!
//! Only memory nobody touched is worth it: populating pages already present costs a system
//! call and a page-table walk for nothing (~6 µs per 64 KiB here). A block may be recycled
//! heap memory (the allocator reuses freed blocks), so before the first batch of a block the
//! last page of the first batch is checked with `mincore` (~1 µs): a resident page means a warm block,
//! left alone for good. Small blocks (below [`MIN_POPULATED_BLOCK`]) come from the
//! allocator's heap, usually warm, and are never populated.
//!
//! Never more than [`CHUNK`] ahead of the bytes written: the pages are the block's own and
//! will be written anyway, so memory use does not grow beyond the next chunk. A populate holds
//! the buffer's lock about as long as the faults it replaces did (16 pages, ~25 µs).
//! Anywhere but Linux, and on kernels without `MADV_POPULATE_WRITE`, nothing is done.

use bytes::BytesMut;

/// How far ahead of the writes a fresh block is faulted in, per system call: 16 pages of
/// 4 KiB, ~25 µs in one call (a larger batch saved little more: in a one-off run of the
/// `fault_cost.c` loop, 256 KiB batches took 4% less per 1 KiB write, and would hold the
/// lock 4x as long).
pub(crate) const CHUNK: usize = 64 * 1024;

/// Blocks smaller than this are never populated: the allocator serves them from its heap
/// (glibc's default threshold for fresh `mmap` memory is 128 KiB), mostly warm.
pub(crate) const MIN_POPULATED_BLOCK: usize = 128 * 1024;

/// Where the block being filled is known to be faulted in (or not worth faulting in).
#[derive(Debug)]
pub(crate) struct Prefault {
    /// The address up to which the block needs nothing more; `usize::MAX` once nothing is
    /// ever needed (a small or warm block), so the check in [`Prefault::before_write`] is one
    /// comparison that fails.
    done_to: usize,
    /// Whether the next batch is this block's first (then its residency is checked first).
    first: bool,
}

impl Prefault {
    /// For a block that needs nothing (recycled, known to be warm; or empty).
    pub(crate) fn none() -> Self {
        Self {
            done_to: usize::MAX,
            first: false,
        }
    }

    /// For a block just allocated: populated ahead of the writes if it is large enough.
    pub(crate) fn fresh(block: &BytesMut) -> Self {
        if block.capacity() < MIN_POPULATED_BLOCK || !os::SUPPORTED {
            return Self::none();
        }
        Self {
            done_to: block.as_ptr() as usize + block.len(),
            first: true,
        }
    }

    /// Call before appending `n` bytes (that fit) to `block`.
    #[inline(always)]
    pub(crate) fn before_write(&mut self, block: &BytesMut, n: usize) {
        let to = (block.as_ptr() as usize)
            .saturating_add(block.len())
            .saturating_add(n);
        if to > self.done_to {
            self.advance(block, to);
        }
    }

    /// Populates from where the last batch ended to [`CHUNK`] past `to` (within the block).
    #[cold]
    #[inline(never)]
    fn advance(&mut self, block: &BytesMut, to: usize) {
        let block_end = block.as_ptr() as usize + block.capacity();
        let page = os::page_size();
        let from = self.done_to & !(page - 1);
        let until = to.saturating_add(CHUNK).min(block_end);
        let until = until.saturating_add(page - 1) & !(page - 1);
        // The batch's last page: its first may hold the allocator's header, written even in
        // fresh memory.
        if std::mem::take(&mut self.first) && os::resident(until - page) {
            *self = Self::none();
            return;
        }
        if !os::populate_write(from, until - from) {
            *self = Self::none();
            return;
        }
        self.done_to = until;
    }
}

#[cfg(all(target_os = "linux", not(loom)))]
mod os {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Whether this platform has the calls at all.
    pub(super) const SUPPORTED: bool = true;

    /// `MADV_POPULATE_WRITE` (Linux 5.14), named here as the `libc` crate may lack it.
    const MADV_POPULATE_WRITE: libc::c_int = 23;

    /// Set when the kernel refused the advice as unknown (before 5.14): never asked again.
    static REFUSED: AtomicBool = AtomicBool::new(false);
    static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

    pub(super) fn page_size() -> usize {
        let known = PAGE_SIZE.load(Ordering::Relaxed);
        if known != 0 {
            return known;
        }
        // SAFETY: `sysconf` only reads a system setting.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let size = usize::try_from(size)
            .ok()
            .filter(|s| s.is_power_of_two())
            .unwrap_or(4096);
        PAGE_SIZE.store(size, Ordering::Relaxed);
        size
    }

    /// Whether the page at `addr` (page-aligned) is in memory.
    pub(super) fn resident(addr: usize) -> bool {
        let mut state = 0u8;
        // SAFETY: `mincore` reads the page tables of one page-aligned page and writes one byte
        // (one page) into `state`; an address not mapped is an error, not a fault.
        let rc = unsafe { libc::mincore(addr as *mut libc::c_void, 1, &mut state) };
        rc == 0 && state & 1 == 1
    }

    /// Faults in `[addr, addr + len)` (page-aligned) as if written, without writing; `false`
    /// when the kernel does not know the advice (then never again).
    pub(super) fn populate_write(addr: usize, len: usize) -> bool {
        if len == 0 {
            return true;
        }
        if REFUSED.load(Ordering::Relaxed) {
            return false;
        }
        // SAFETY: the range lies in pages of a live block of ours (its partial first and last
        // pages may hold other allocations' bytes); populating only makes pages present and
        // writable and never changes a byte, so no memory anyone uses is affected.
        let rc = unsafe { libc::madvise(addr as *mut libc::c_void, len, MADV_POPULATE_WRITE) };
        if rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            REFUSED.store(true, Ordering::Relaxed);
            return false;
        }
        // Any other failure (e.g. no memory right now) leaves the pages to fault on write.
        true
    }
}

#[cfg(not(all(target_os = "linux", not(loom))))]
mod os {
    pub(super) const SUPPORTED: bool = false;

    pub(super) fn page_size() -> usize {
        4096
    }

    pub(super) fn resident(_addr: usize) -> bool {
        true
    }

    pub(super) fn populate_write(_addr: usize, _len: usize) -> bool {
        false
    }
}

#[cfg(all(test, target_os = "linux", not(loom)))]
mod tests {
    use super::*;

    /// Above glibc's largest `mmap` threshold (32 MiB), so always fresh `mmap` memory, never
    /// a block some other test freed (only the pages written become resident).
    const FRESH: usize = 33 * 1024 * 1024;

    /// Bytes at a block's start that an allocator may write itself: glibc's header sits just
    /// before it (in the same page), ASan fills the first 4 KiB of every allocation
    /// (`max_malloc_fill_size`). The tests count only pages after them.
    const ALLOCATOR_TOUCHED: usize = 4096;

    /// How far into a block the tests look (well before its end, where an allocator may keep
    /// data too).
    const LOOK: usize = 4 * CHUNK;

    /// The first page the tests count: the first that starts after [`ALLOCATOR_TOUCHED`].
    fn first_counted(base: usize) -> usize {
        (base + ALLOCATOR_TOUCHED).next_multiple_of(os::page_size())
    }

    /// How many of the counted pages, up to [`LOOK`] bytes into `block`, are in memory.
    fn resident_pages(block: &BytesMut) -> usize {
        let base = block.as_ptr() as usize;
        (first_counted(base)..base + LOOK)
            .step_by(os::page_size())
            .filter(|&p| os::resident(p))
            .count()
    }

    /// How many counted pages lie before `to` (rounded up to a page).
    fn pages_to(base: usize, to: usize) -> usize {
        let page = os::page_size();
        (to.next_multiple_of(page) - first_counted(base)) / page
    }

    #[test]
    fn a_fresh_large_block_is_populated_one_chunk_ahead_of_the_writes() {
        let page = os::page_size();
        let mut block = BytesMut::with_capacity(FRESH);
        let base = block.as_ptr() as usize;
        assert_eq!(resident_pages(&block), 0, "fresh mmap memory");
        let mut prefault = Prefault::fresh(&block);
        prefault.before_write(&block, 1);
        block.extend_from_slice(b"x");
        let ahead = (base + 1 + CHUNK).next_multiple_of(page);
        assert_eq!(resident_pages(&block), pages_to(base, ahead));
        // Writes within the populated range make no further call; one past it populates the
        // next chunk after it (still within `LOOK`).
        let fill = ahead - base - 1;
        prefault.before_write(&block, fill);
        block.extend_from_slice(&vec![7u8; fill]);
        assert_eq!(resident_pages(&block), pages_to(base, ahead));
        prefault.before_write(&block, 1);
        block.extend_from_slice(b"y");
        let next = ahead + 1 + CHUNK;
        assert!(next < base + LOOK);
        assert_eq!(resident_pages(&block), pages_to(base, next));
        assert_eq!(block.len(), ahead - base + 1);
        assert!(block[1..block.len() - 1].iter().all(|&b| b == 7));
    }

    #[test]
    fn a_block_already_in_memory_is_left_alone() {
        let mut block = BytesMut::with_capacity(FRESH);
        let base = block.as_ptr() as usize;
        // Written over its first 128 KiB, as a reused block would be.
        let warm = 2 * CHUNK;
        block.extend_from_slice(&vec![1u8; warm]);
        block.clear();
        assert_eq!(resident_pages(&block), pages_to(base, base + warm));
        let mut prefault = Prefault::fresh(&block);
        prefault.before_write(&block, 1);
        assert_eq!(prefault.done_to, usize::MAX, "warm: never populated");
        assert_eq!(resident_pages(&block), pages_to(base, base + warm));
    }

    #[test]
    fn small_and_recycled_blocks_are_never_populated() {
        let block = BytesMut::with_capacity(MIN_POPULATED_BLOCK - 1);
        assert_eq!(Prefault::fresh(&block).done_to, usize::MAX);
        assert_eq!(Prefault::none().done_to, usize::MAX);
    }
}
