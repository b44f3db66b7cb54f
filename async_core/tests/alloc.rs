//! Allocation counts, measured with a counting global allocator: once storage is reserved
//! (a content length, or a bounded buffer's recycled blocks), small writes allocate nothing,
//! and neither do reads that copy out (`read_with`, the path of `std::io::Read`).
// Loom builds (`--cfg loom`) run only `tests/loom.rs`: the core's locks are loom's there.
#![cfg(not(loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use py_buffer_core::{channel, Options, ReadKind};

/// Counts allocations made by the current thread (other test threads do not interfere).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// Allocations of 4 KiB or more: new storage blocks (fresh pages).
    static BLOCK_ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// thread-local `Cell` with const initialisation and no destructor, so it never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        if layout.size() >= 4096 {
            BLOCK_ALLOCATIONS.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        if new_size >= 4096 {
            BLOCK_ALLOCATIONS.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

const WRITES: usize = 10_000;

#[test]
fn small_writes_into_reserved_storage_do_not_allocate() {
    // One record more than written: reaching the length wakes writers, and an event's first
    // notification allocates its listener list once (event-listener's lazy init) — not a
    // per-write cost, but it would show up in this count.
    let (w, r) = channel(Options::new().content_length((64 * (WRITES + 2)) as u64));
    let record = [7u8; 64];
    w.try_write(&record).unwrap();
    let mut out = [0u8; 64];
    let n = allocations_during(|| {
        for _ in 0..WRITES {
            assert_eq!(w.try_write(&record).unwrap(), 64);
        }
    });
    assert_eq!(n, 0, "allocations for {WRITES} writes of 64 B");
    let n = allocations_during(|| {
        for _ in 0..WRITES + 1 {
            let got = r
                .read_with(ReadKind::Exact(64), |s| {
                    s.copy_to_slice(&mut out);
                    s.len()
                })
                .wait()
                .unwrap();
            assert_eq!(got, 64);
        }
    });
    assert_eq!(n, 0, "allocations for {} copying reads of 64 B", WRITES + 1);
    assert_eq!(r.info().unread, 0);
}

#[test]
fn interleaved_small_writes_and_reads_in_bounded_mode_do_not_allocate() {
    let (w, r) = channel(Options::new().max_buffered(64 * 1024));
    let record = [3u8; 64];
    let mut out = [0u8; 64];
    let mut round = |w: &py_buffer_core::Writer| {
        for _ in 0..WRITES {
            assert_eq!(w.try_write(&record).unwrap(), 64);
            let got = r
                .read_with(ReadKind::Exact(64), |s| {
                    s.copy_to_slice(&mut out);
                    s.len()
                })
                .wait()
                .unwrap();
            assert_eq!(got, 64);
        }
    };
    // Warm-up: the blocks the buffer cycles through get allocated once.
    round(&w);
    round(&w);
    let n = allocations_during(|| round(&w));
    assert_eq!(
        n, 0,
        "allocations for {WRITES} write/read pairs once blocks are recycled"
    );
}

#[test]
fn large_bounded_writes_reuse_their_blocks() {
    // Writes and reads of 256 KiB (larger than a 64 KiB storage block) through a 1 MiB bound:
    // copied outside the lock on both sides, the blocks must still be recycled, so steady
    // streaming allocates no new storage (small bookkeeping allocations aside).
    const CHUNK: usize = 256 * 1024;
    let (w, r) = channel(Options::new().max_buffered(1 << 20));
    let data = vec![5u8; CHUNK];
    let mut buf = vec![0u8; CHUNK];
    let mut round = || {
        for _ in 0..16 {
            assert_eq!(w.try_write(&data).unwrap(), CHUNK);
            assert_eq!(r.read_into(&mut buf).wait().unwrap(), CHUNK);
        }
    };
    round();
    let before = BLOCK_ALLOCATIONS.with(Cell::get);
    round();
    round();
    let blocks = BLOCK_ALLOCATIONS.with(Cell::get) - before;
    assert_eq!(
        blocks, 0,
        "new storage blocks while streaming 8 MiB through recycled ones"
    );
    assert!(buf.iter().all(|&b| b == 5));
}
