//! The `py_buffer` resource: one core buffer (its writer and a reader), the subscription that
//! turns its edges into messages, and its owner.
//!
//! The resource term Erlang holds is a [`Buffer`], a thin handle on an [`Inner`] behind an
//! `Arc`, so the owner registry can refer to buffers weakly. Dropping the last Erlang reference
//! drops the core [`Writer`]; a body that was never closed is then aborted
//! ([`py_buffer_core::AbortReason::WriterGone`]) and readers elsewhere (Python) wake.
//!
//! The embedded Python hands the same resource to Python as `erlang.PyBuffer`
//! ([`crate::py::python_face`]): it reads through a clone of [`Inner::reader`], sharing the core
//! state with Erlang.

use std::mem::ManuallyDrop;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel as mpsc_channel, Sender};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock};

use py_buffer_core::{channel, Options, Reader, Writer};
use py_buffer_python::PyBuffer;
use pyo3::Py;
use rustler::LocalPid;

use crate::buffer::kept::Keeper;
use crate::buffer::notify::Notifier;
use crate::buffer::stored_reason::StoredReason;
use crate::buffer::timeslice::Debt;

/// Buffers alive right now (resources not yet destroyed); `py_buffer:live_buffers/0`.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Source of buffer ids (keys in the owner registry).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What every `py_buffer` resource object holds (its ERTS type is registered by
/// [`crate::buffer::resource_type`]).
pub struct Buffer(pub Arc<Inner>);

// Every field of `Inner` is either immutable or behind a lock whose poisoning is recovered
// from (the core does the same), so a panic caught by a NIF wrapper leaves nothing
// half-changed that a later call could observe.
impl UnwindSafe for Buffer {}
impl RefUnwindSafe for Buffer {}

impl std::ops::Deref for Buffer {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Who owns a buffer: the process whose death aborts an unfinished body.
#[derive(Clone, Copy)]
pub struct OwnerSlot {
    /// The owning process.
    pub pid: LocalPid,
    /// Registered with the owner watcher (until the body is closed or aborted).
    pub watched: bool,
}

/// The state of one buffer shared by its resource handle and the owner registry.
pub struct Inner {
    /// Key in the owner registry.
    id: u64,
    /// The producer handle Erlang writes through.
    writer: ManuallyDrop<Writer>,
    /// The consumer handle Erlang-side reads use (Python gets clones of it).
    reader: ManuallyDrop<Reader>,
    /// The env holding kept binaries, made with the first one.
    keeper: OnceLock<Arc<Keeper>>,
    /// Bounded mode (`max_buffered` set): blocks are recycled, so writes copy.
    bounded: bool,
    /// Bytes and blocks kept without copying (their memory is the Erlang binaries').
    kept_bytes: AtomicU64,
    /// See `kept_bytes`.
    kept_blocks: AtomicU64,
    /// The reductions its small writes owe (`timeslice::charge_raw`).
    write_debt: Debt,
    /// The subscription: who is told about edges, and which edges are armed.
    notifier: Arc<Notifier>,
    /// The owning process.
    owner: Mutex<OwnerSlot>,
    /// The Erlang reason given to `abort/2` (or the owner's exit), stored once and bounded;
    /// its `text` is the core reason it was paired with.
    abort_term: Mutex<Option<Arc<StoredReason>>>,
    /// The buffer's Python object, made when it first crosses into Python.
    python: OnceLock<Py<PyBuffer>>,
}

impl Inner {
    /// A fresh buffer owned by `owner`, with its observer registered.
    pub fn new(options: Options, owner: LocalPid) -> Arc<Self> {
        let (writer, reader) = channel(options);
        let bounded = writer.info().max_buffered.is_some();
        let notifier = Arc::new(Notifier::default());
        writer.set_observer(Some(Notifier::observer(&notifier)));
        LIVE.fetch_add(1, Ordering::Relaxed);
        Arc::new(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            writer: ManuallyDrop::new(writer),
            reader: ManuallyDrop::new(reader),
            keeper: OnceLock::new(),
            bounded,
            kept_bytes: AtomicU64::new(0),
            kept_blocks: AtomicU64::new(0),
            write_debt: Debt::default(),
            notifier,
            owner: Mutex::new(OwnerSlot {
                pid: owner,
                watched: false,
            }),
            abort_term: Mutex::new(None),
            python: OnceLock::new(),
        })
    }

    /// Key in the owner registry.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The producer handle Erlang writes through.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// The consumer handle Erlang-side reads use (Python gets clones of it).
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// Bounded mode (`max_buffered` set): blocks are recycled, so writes copy.
    pub fn is_bounded(&self) -> bool {
        self.bounded
    }

    /// Counts a block of `bytes` kept without copying (for the dropper's size estimate).
    pub fn count_kept(&self, bytes: usize) {
        self.kept_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.kept_blocks.fetch_add(1, Ordering::Relaxed);
    }

    /// The reductions its small writes owe (`timeslice::charge_raw`).
    pub fn write_debt(&self) -> &Debt {
        &self.write_debt
    }

    /// The subscription: who is told about edges, and which edges are armed.
    pub fn notifier(&self) -> &Arc<Notifier> {
        &self.notifier
    }

    /// The owner slot.
    pub fn owner(&self) -> MutexGuard<'_, OwnerSlot> {
        lock(&self.owner)
    }

    /// The term given to `abort/2` and its core reason (see [`crate::buffer::errors`]).
    pub fn abort_term(&self) -> MutexGuard<'_, Option<Arc<StoredReason>>> {
        lock(&self.abort_term)
    }

    /// The buffer's Python object, set when it first crosses into Python
    /// ([`crate::py::python_face`]).
    pub fn python_object(&self) -> &OnceLock<Py<PyBuffer>> {
        &self.python
    }

    /// The keeper env for large binaries.
    pub fn keeper(&self) -> &Arc<Keeper> {
        self.keeper.get_or_init(Keeper::new)
    }

    /// The keeper env, if a binary was ever kept (reads look their results up there).
    pub fn kept_keeper(&self) -> Option<&Arc<Keeper>> {
        self.keeper.get()
    }
}

/// Buffers owning more memory than this, or holding more kept blocks than
/// [`DROP_ELSEWHERE_BLOCKS`], are freed on the [`DROPPER`] thread: unmapping many megabytes,
/// or releasing thousands of blocks, inside a garbage collection would hold a normal
/// scheduler for milliseconds. Kept blocks are cheap to release (a reference count each).
const DROP_ELSEWHERE_BYTES: u64 = 1024 * 1024;
/// See [`DROP_ELSEWHERE_BYTES`].
const DROP_ELSEWHERE_BLOCKS: u64 = 4096;

/// What a big buffer leaves to free.
type Remains = (Writer, Reader, Option<Arc<Keeper>>);

/// A thread that frees big buffers (`None` if it could not be started: then they are freed
/// where they die).
static DROPPER: LazyLock<Option<Mutex<Sender<Remains>>>> = LazyLock::new(|| {
    let (sender, receiver) = mpsc_channel::<Remains>();
    std::thread::Builder::new()
        .name("py_buffer_dropper".into())
        .spawn(move || receiver.into_iter().for_each(drop))
        .ok()?;
    Some(Mutex::new(sender))
});

impl Drop for Inner {
    fn drop(&mut self) {
        // Nobody can subscribe any more; the writer's drop below may abort the body, and
        // readers elsewhere still wake through the core's listeners.
        self.writer.set_observer(None);
        if let Some(object) = self.python.take() {
            crate::py::python_face::forget(object);
        }
        let slot = *self.owner();
        if slot.watched {
            crate::buffer::owner::forget(slot.pid, self.id);
        }
        // SAFETY: `writer` and `reader` are taken once, here, and never used again.
        let remains = unsafe {
            (
                ManuallyDrop::take(&mut self.writer),
                ManuallyDrop::take(&mut self.reader),
                self.keeper.take(),
            )
        };
        let owned = remains
            .0
            .info()
            .retained
            .saturating_sub(*self.kept_bytes.get_mut());
        let big =
            owned > DROP_ELSEWHERE_BYTES || *self.kept_blocks.get_mut() > DROP_ELSEWHERE_BLOCKS;
        match DROPPER.as_ref() {
            Some(dropper) if big => {
                if let Err(returned) = lock(dropper).send(remains) {
                    drop(returned.0);
                }
            }
            _ => drop(remains),
        }
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many buffers are alive.
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Locks `mutex`, recovering from poisoning: every critical section in this crate leaves its
/// data consistent before anything that can panic.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
