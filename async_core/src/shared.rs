//! The state every handle of one buffer shares: the lock, the two events, the blocked
//! threads, the handle counts.
//!
//! All mutations go through [`Shared::update`], which runs a transition under the lock and then,
//! with the lock released, wakes the async listeners, the blocked threads ([`Sleepers`]) and
//! the observer the transition asked for. That ordering is the whole wake-up protocol: a woken
//! waiter always finds the change that woke it.

use event_listener::{Event, EventListener, IntoNotification};

use crate::edge::Observer;
use crate::error::AbortReason;
use crate::options::Options;
use crate::sleepers::Sleepers;
use crate::state::{Effects, State, WriteStart, COPY_OUTSIDE_MIN};
use crate::sync::{Arc, AtomicUsize, Mutex, MutexGuard, Ordering};

/// Which event a waiter listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    /// Data appended, the body ended, the reader closed, a seek back.
    Readable,
    /// Room made in bounded mode, the body ended, the reader closed.
    Writable,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    readable: Event,
    writable: Event,
    /// Threads blocked in `Op::wait` (async waiters listen to the events instead).
    sleepers: Sleepers,
    writers: AtomicUsize,
    readers: AtomicUsize,
    /// Which events ever had a listener ([`READABLE_LISTENED`], [`WRITABLE_LISTENED`]).
    listening: AtomicUsize,
}

/// `Shared::listening`: `readable` had a listener.
const READABLE_LISTENED: usize = 1;
/// `Shared::listening`: `writable` had a listener.
const WRITABLE_LISTENED: usize = 2;

impl Shared {
    pub(crate) fn new(options: &Options) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::new(options)),
            readable: Event::new(),
            writable: Event::new(),
            sleepers: Sleepers::new(),
            writers: AtomicUsize::new(1),
            // The first reader counts itself in `Reader::from_shared`.
            readers: AtomicUsize::new(0),
            listening: AtomicUsize::new(0),
        })
    }

    /// The state, for reads that change nothing.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (every transition checks
        // before it mutates), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `transition` under the lock, then wakes whoever it asked for.
    pub(crate) fn update<R>(&self, transition: impl FnOnce(&mut State, &mut Effects) -> R) -> R {
        let mut effects = Effects::default();
        let mut state = self.lock();
        let result = transition(&mut state, &mut effects);
        let observer = if state.finished() {
            // No edge can follow: release the observer (and any handle it captured, which may
            // be what keeps this buffer alive). It gets the last edges, then is dropped below,
            // outside the lock.
            state.observer.take()
        } else {
            match &state.observer {
                Some(observer)
                    if !effects.edges.is_empty()
                        && effects.edges.iter().any(|edge| observer.wants(edge)) =>
                {
                    Some(std::sync::Arc::clone(observer))
                }
                _ => None,
            }
        };
        // Read under the lock: see `listen` and `Sleepers`.
        let listening = self.listening.load(Ordering::Relaxed);
        let asleep = self.sleepers.asleep();
        // Not a block returning a tuple: moving the result out of one stalled (perf).
        drop(state);
        // Relaxed: no fence needed. A waiter registers its listener before it re-checks the
        // state under the lock, so either that re-check sees this change, or the registration
        // happened before our unlock and is visible to `notify` through the lock. The same
        // goes for `listening`: a waiter sets it before registering, so an event nobody ever
        // listened to is not notified at all (`Event::notify` takes the event's own lock).
        if effects.wake_readers {
            if listening & READABLE_LISTENED != 0 {
                self.readable.notify(usize::MAX.relaxed());
            }
            if asleep.readers() {
                self.sleepers.wake(Interest::Readable);
            }
        }
        if effects.wake_writers {
            if listening & WRITABLE_LISTENED != 0 {
                self.writable.notify(usize::MAX.relaxed());
            }
            if asleep.writers() {
                self.sleepers.wake(Interest::Writable);
            }
        }
        if let Some(observer) = observer {
            for edge in effects.edges.iter() {
                observer.on_edge(edge);
            }
        }
        result
    }

    /// Appends as much of `data` as fits now (see [`State::write_start`]); a large write in
    /// bounded mode copies into its block between two short lock holds.
    pub(crate) fn write(&self, data: &[u8]) -> crate::error::Result<usize> {
        if data.len() < COPY_OUTSIDE_MIN {
            // Copied under the lock whatever the mode: a smaller result to move around than
            // `WriteStart` (measured: the moves of the larger one stalled on the stack).
            return self.update(|state, fx| state.write_small(data, fx));
        }
        match self.update(|state, fx| state.write_start(data, fx))? {
            WriteStart::Done(n) => Ok(n),
            WriteStart::Reserved(n, mut block) => {
                block.extend_from_slice(&data[..n]);
                self.update(|state, fx| state.write_finish(block, fx))
            }
        }
    }

    /// A listener for `interest`. Marks the event as listened to first (for good): `update`
    /// reads the mark under the lock, and every waiter re-checks the state under the lock
    /// after registering, so either that re-check sees a change or the change's `update` sees
    /// the mark and notifies.
    /// [`Shared::write`] without the error (see [`crate::Writer::try_write_quiet`]).
    #[inline]
    pub(crate) fn write_quiet(&self, data: &[u8]) -> Option<usize> {
        if data.len() < COPY_OUTSIDE_MIN {
            self.update(|state, fx| state.write_small(data, fx).ok())
        } else {
            self.write(data).ok()
        }
    }

    pub(crate) fn listen(&self, interest: Interest) -> EventListener {
        let mark = match interest {
            Interest::Readable => READABLE_LISTENED,
            Interest::Writable => WRITABLE_LISTENED,
        };
        if self.listening.load(Ordering::Relaxed) & mark == 0 {
            self.listening.fetch_or(mark, Ordering::Relaxed);
        }
        match interest {
            Interest::Readable => self.readable.listen(),
            Interest::Writable => self.writable.listen(),
        }
    }

    /// The threads blocked in `Op::wait` on this buffer.
    pub(crate) fn sleepers(&self) -> &Sleepers {
        &self.sleepers
    }

    /// Replaces the observer. The old one (or the new one, if the buffer is already finished
    /// and no edge can come) is dropped after the lock is released: it may hold the last
    /// handle of this buffer, whose drop takes the lock.
    pub(crate) fn set_observer(&self, observer: Option<std::sync::Arc<dyn Observer>>) {
        let _dropped_unlocked = {
            let mut state = self.lock();
            if state.finished() {
                observer
            } else {
                std::mem::replace(&mut state.observer, observer)
            }
        };
    }

    /// A handle that does not keep the buffer alive (see [`crate::WeakReader`]).
    #[cfg(not(loom))]
    pub(crate) fn downgrade(this: &Arc<Self>) -> std::sync::Weak<Self> {
        Arc::downgrade(this)
    }

    pub(crate) fn add_writer(&self) {
        self.writers.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops one writer handle; the last one aborts a body that was never closed.
    pub(crate) fn remove_writer(&self) {
        if self.writers.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Err means the body already ended; nothing to do.
            let _ = self.update(|state, fx| state.abort(AbortReason::WriterGone, fx));
        }
    }

    pub(crate) fn add_reader(&self) {
        self.readers.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops one reader handle; the last one closes the reading side (as `Reader::close`):
    /// nobody can read what a writer adds from now on, so writes fail instead of waiting for
    /// room or piling up bytes.
    pub(crate) fn remove_reader(&self) {
        if self.readers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.update(|state, fx| state.close_reader(fx));
        }
    }
}
