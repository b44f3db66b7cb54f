//! The operations the handles return: what each one tries under the lock.
//!
//! Each type is one [`Attempt`]; wrapped in [`Op`] it is a future and a blocking call at once.

use bytes::Bytes;

use crate::driver::{Attempt, Op, WaitsOn};
use crate::error::Result;
use crate::read_kind::{decide_mut, Decision, ReadKind, Scan};
use crate::shared::{Interest, Shared};
use crate::slices::Slices;
use crate::state::COPY_OUTSIDE_MIN;

/// A read that hands the bytes it takes to a consumer `F` while the lock is held.
pub struct Take<'a, F> {
    shared: &'a Shared,
    kind: ReadKind,
    scan: Scan,
    consume: Option<F>,
}

/// The consumer of the plain reads: the bytes as one [`Bytes`].
pub type ToBytes = for<'s> fn(Slices<'s>) -> Bytes;
/// The consumer of `readlines`: the bytes split into lines.
pub type ToLines = for<'s> fn(Slices<'s>) -> Vec<Bytes>;

/// `read`, `read1`, `readline`, ...: resolves to the bytes taken.
pub type ReadBytes<'a> = Op<Take<'a, ToBytes>>;
/// `readlines`: resolves to the lines taken.
pub type ReadLines<'a> = Op<Take<'a, ToLines>>;

impl<'a, F> Take<'a, F> {
    pub(crate) fn op(shared: &'a Shared, kind: ReadKind, consume: F) -> Op<Self> {
        Op::new(Self {
            shared,
            kind,
            scan: Scan::default(),
            consume: Some(consume),
        })
    }
}

impl<T, F> Attempt for Take<'_, F>
where
    F: for<'s> FnOnce(Slices<'s>) -> T,
{
    type Output = Result<T>;

    fn attempt(&mut self) -> Option<Result<T>> {
        let Self {
            shared,
            kind,
            scan,
            consume,
        } = self;
        shared.update(|state, fx| match decide_mut(kind, state, scan, fx) {
            Decision::Wait => None,
            Decision::Fail(e) => Some(Err(e)),
            Decision::Take(n) => {
                let consume = consume
                    .take()
                    .expect("a completed read is not polled again");
                Some(Ok(state.take(n, consume, fx)))
            }
        })
    }

    fn waits_on(&self) -> WaitsOn<'_> {
        WaitsOn::new(self.shared, Interest::Readable)
    }
}

/// Waits until a read of some kind can complete (or fail) without taking anything.
///
/// Bindings that must allocate their result under their own lock (Python's GIL) wait with
/// this, then take with [`crate::Reader::try_read_with`].
pub struct Ready<'a> {
    shared: &'a Shared,
    kind: ReadKind,
    scan: Scan,
}

impl<'a> Ready<'a> {
    pub(crate) fn op(shared: &'a Shared, kind: ReadKind) -> Op<Self> {
        Op::new(Self {
            shared,
            kind,
            scan: Scan::default(),
        })
    }
}

impl Attempt for Ready<'_> {
    type Output = ();

    fn attempt(&mut self) -> Option<()> {
        let Self { shared, kind, scan } = self;
        shared.update(|state, fx| match decide_mut(kind, state, scan, fx) {
            Decision::Wait => None,
            Decision::Take(_) | Decision::Fail(_) => Some(()),
        })
    }

    fn waits_on(&self) -> WaitsOn<'_> {
        WaitsOn::new(self.shared, Interest::Readable)
    }
}

/// Waits until the reader side is closed or the body is aborted (the exchange is over), even
/// after a clean EOF: what an ASGI server reports as `http.disconnect`.
pub struct HangUp<'a> {
    shared: &'a Shared,
}

impl<'a> HangUp<'a> {
    pub(crate) fn op(shared: &'a Shared) -> Op<Self> {
        Op::new(Self { shared })
    }
}

impl Attempt for HangUp<'_> {
    type Output = ();

    fn attempt(&mut self) -> Option<()> {
        self.shared.lock().hung_up().then_some(())
    }

    fn waits_on(&self) -> WaitsOn<'_> {
        // Both a reader close and an abort wake the readers.
        WaitsOn::new(self.shared, Interest::Readable)
    }
}

/// Writes all of a borrowed slice, waiting for room in bounded mode.
pub struct WriteSlice<'a> {
    shared: &'a Shared,
    data: &'a [u8],
}

impl<'a> WriteSlice<'a> {
    pub(crate) fn op(shared: &'a Shared, data: &'a [u8]) -> Op<Self> {
        Op::new(Self { shared, data })
    }
}

impl Attempt for WriteSlice<'_> {
    type Output = Result<()>;

    fn attempt(&mut self) -> Option<Result<()>> {
        let data = self.data;
        match self.shared.write(data) {
            Ok(n) if n == data.len() => Some(Ok(())),
            Ok(n) => {
                self.data = &data[n..];
                None
            }
            Err(e) => Some(Err(e)),
        }
    }

    fn waits_on(&self) -> WaitsOn<'_> {
        WaitsOn::new(self.shared, Interest::Writable)
    }
}

/// Writes all of an owned [`Bytes`], waiting for room in bounded mode.
pub struct WriteBytes<'a> {
    shared: &'a Shared,
    data: Bytes,
}

impl<'a> WriteBytes<'a> {
    pub(crate) fn op(shared: &'a Shared, data: Bytes) -> Op<Self> {
        Op::new(Self { shared, data })
    }
}

impl Attempt for WriteBytes<'_> {
    type Output = Result<()>;

    fn attempt(&mut self) -> Option<Result<()>> {
        let data = &mut self.data;
        match self.shared.update(|state, fx| state.write_bytes(data, fx)) {
            Ok(_) if data.is_empty() => Some(Ok(())),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }

    fn waits_on(&self) -> WaitsOn<'_> {
        WaitsOn::new(self.shared, Interest::Writable)
    }
}

/// Waits until a writer may append at least one byte.
pub struct Room<'a> {
    shared: &'a Shared,
}

impl<'a> Room<'a> {
    pub(crate) fn op(shared: &'a Shared) -> Op<Self> {
        Op::new(Self { shared })
    }
}

impl Attempt for Room<'_> {
    type Output = Result<()>;

    fn attempt(&mut self) -> Option<Result<()>> {
        match self.shared.lock().has_room() {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }

    fn waits_on(&self) -> WaitsOn<'_> {
        WaitsOn::new(self.shared, Interest::Writable)
    }
}

/// Waits for unread bytes and resolves to up to `n` of them without consuming them.
pub struct Fill<'a> {
    shared: &'a Shared,
    n: usize,
}

impl<'a> Fill<'a> {
    pub(crate) fn op(shared: &'a Shared, n: usize) -> Op<Self> {
        Op::new(Self { shared, n })
    }
}

impl Attempt for Fill<'_> {
    type Output = Result<Bytes>;

    fn attempt(&mut self) -> Option<Result<Bytes>> {
        let kind = ReadKind::Available(self.n);
        self.shared.update(
            |state, fx| match decide_mut(&kind, state, &mut Scan::default(), fx) {
                Decision::Wait => None,
                Decision::Fail(e) => Some(Err(e)),
                Decision::Take(n) => Some(Ok(state.store.to_bytes(state.pos, n))),
            },
        )
    }

    fn waits_on(&self) -> WaitsOn<'_> {
        WaitsOn::new(self.shared, Interest::Readable)
    }
}

/// Reads between 1 and `dst.len()` bytes into `dst` (0 at a clean EOF); `None` to wait.
///
/// A large read from frozen blocks takes shared handles on them under the lock, moves the
/// position, and copies after the lock is released, so the copy overlaps with writers.
pub(crate) fn read_into(shared: &Shared, dst: &mut [u8]) -> Option<Result<usize>> {
    let kind = ReadKind::Available(dst.len());
    let mut pieces = None;
    let out = shared.update(
        |state, fx| match decide_mut(&kind, state, &mut Scan::default(), fx) {
            Decision::Wait => None,
            Decision::Fail(e) => Some(Err(e)),
            Decision::Take(n) => {
                if n >= COPY_OUTSIDE_MIN {
                    pieces = state.store.frozen_pieces::<4>(state.pos, n);
                    if pieces.is_some() {
                        state.advance(n as u64, fx);
                        return Some(Ok(n));
                    }
                }
                let copy = |s: Slices<'_>| {
                    s.copy_to_slice(dst);
                    s.len()
                };
                Some(Ok(state.take(n, copy, fx)))
            }
        },
    );
    if let Some(pieces) = pieces {
        let mut at = 0;
        for piece in pieces.iter().take_while(|p| !p.is_empty()) {
            dst[at..at + piece.len()].copy_from_slice(piece);
            at += piece.len();
        }
    }
    out
}

/// Reads between 1 and `dst.len()` bytes into the caller's memory.
pub struct ReadInto<'a> {
    shared: &'a Shared,
    dst: &'a mut [u8],
}

impl<'a> ReadInto<'a> {
    pub(crate) fn op(shared: &'a Shared, dst: &'a mut [u8]) -> Op<Self> {
        Op::new(Self { shared, dst })
    }
}

impl Attempt for ReadInto<'_> {
    type Output = Result<usize>;

    fn attempt(&mut self) -> Option<Result<usize>> {
        read_into(self.shared, self.dst)
    }

    fn waits_on(&self) -> WaitsOn<'_> {
        WaitsOn::new(self.shared, Interest::Readable)
    }
}
