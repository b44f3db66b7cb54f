//! The two drivers of every operation: an async poll and a blocking wait.
//!
//! Both run the same loop: try, register, try again, then wait (or return `Pending`). The
//! second try closes the race where the state changes between the first try and the
//! registration, so no wake-up is ever lost. An async poll registers a listener on the
//! buffer's event; a blocking wait counts itself among the buffer's sleepers
//! (`crate::sleepers` says why they differ). Blocking callers use the very same operation
//! values the async API returns: `reader.read(4).wait()`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use event_listener::EventListener;

use crate::shared::{Interest, Shared};
use crate::sleepers::{Sleepers, Ticket};

/// The buffer and the event an operation waits on when it cannot complete yet.
#[derive(Clone, Copy)]
pub struct WaitsOn<'a> {
    shared: &'a Shared,
    interest: Interest,
}

impl<'a> WaitsOn<'a> {
    pub(crate) fn new(shared: &'a Shared, interest: Interest) -> Self {
        Self { shared, interest }
    }

    fn listen(self) -> EventListener {
        self.shared.listen(self.interest)
    }

    /// Counts the calling thread as blocked before a try (see `crate::sleepers`).
    fn enter_sleep(self) -> Ticket {
        self.shared.sleepers().enter(self.interest)
    }

    fn sleepers(self) -> &'a Sleepers {
        self.shared.sleepers()
    }
}

impl std::fmt::Debug for WaitsOn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitsOn")
            .field("interest", &self.interest)
            .finish_non_exhaustive()
    }
}

/// One attempt at an operation under the buffer's lock, and the event to wait on when it
/// cannot complete yet.
///
/// Public so that facades can name `Op<K>`'s output in generic code (`K: Attempt<Output = T>`);
/// the crate's operations are its only implementations that matter.
pub trait Attempt {
    /// What the operation resolves to.
    type Output;
    /// Tries once; `None` when the operation must wait.
    fn attempt(&mut self) -> Option<Self::Output>;
    /// The event that may let the operation complete.
    fn waits_on(&self) -> WaitsOn<'_>;
}

/// An [`Attempt`] made of a closure, for the handles' trait implementations.
pub(crate) struct AttemptFn<'a, F> {
    pub(crate) shared: &'a Shared,
    pub(crate) interest: Interest,
    pub(crate) attempt: F,
}

impl<T, F: FnMut() -> Option<T>> Attempt for AttemptFn<'_, F> {
    type Output = T;

    fn attempt(&mut self) -> Option<T> {
        (self.attempt)()
    }

    fn waits_on(&self) -> WaitsOn<'_> {
        WaitsOn::new(self.shared, self.interest)
    }
}

/// Polls `op`, registering `listener` when it cannot complete yet.
pub(crate) fn poll_attempt<A: Attempt>(
    op: &mut A,
    listener: &mut Option<EventListener>,
    cx: &mut Context<'_>,
) -> Poll<A::Output> {
    loop {
        if let Some(out) = op.attempt() {
            *listener = None;
            return Poll::Ready(out);
        }
        match listener {
            None => *listener = Some(op.waits_on().listen()),
            Some(waiting) => {
                if Pin::new(waiting).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                *listener = None;
            }
        }
    }
}

/// Retries `op` for up to the polling budget (10 µs by default, `crate::spin`) before the
/// thread parks: a hand-off between two running threads then costs no futex wake-up and no
/// reschedule. Never by yielding the CPU (`crate::spin` says why); the waiter parks (and is
/// woken by `notify`) if the wait is longer.
#[cfg(not(loom))]
fn spin<A: Attempt>(op: &mut A, deadline: Option<Instant>) -> Option<A::Output> {
    crate::spin::poll(deadline, || op.attempt())
}

/// Under loom every retry is one more interleaving to explore; park at once.
#[cfg(loom)]
fn spin<A: Attempt>(_op: &mut A, _deadline: Option<Instant>) -> Option<A::Output> {
    None
}

/// Blocks the thread on `op` until it completes or `deadline` passes (`None` then).
pub(crate) fn wait_attempt<A: Attempt>(op: &mut A, deadline: Option<Instant>) -> Option<A::Output> {
    if let Some(out) = op.attempt() {
        return Some(out);
    }
    if let Some(out) = spin(op, deadline) {
        return Some(out);
    }
    // Outside every lock: a system call when the thread asked for a short slice asleep.
    crate::short_slice::shorten();
    loop {
        let ticket = op.waits_on().enter_sleep();
        if let Some(out) = op.attempt() {
            op.waits_on().sleepers().leave(ticket);
            crate::wake_trace::mark(crate::wake_trace::Point::TryDone);
            return Some(out);
        }
        if !op.waits_on().sleepers().sleep(ticket, deadline) {
            // One last look: the state may have changed just as the deadline passed.
            return op.attempt();
        }
    }
}

/// An operation on a buffer: a future, and blockable with [`Op::wait`].
///
/// Dropping an unfinished operation is always safe: reads consume bytes only when they
/// complete, so a cancelled read loses nothing.
#[must_use = "an operation does nothing unless awaited or waited on"]
pub struct Op<K> {
    kind: K,
    listener: Option<EventListener>,
}

impl<K> Op<K> {
    pub(crate) fn new(kind: K) -> Self {
        Self {
            kind,
            listener: None,
        }
    }
}

impl<K: Attempt> Op<K> {
    /// Blocks the current thread until the operation completes.
    ///
    /// # Blocking
    /// Polls for up to 10 µs (`PY_BUFFER_SPIN_US`; never yielding the CPU) before it sleeps
    /// on the buffer's condition variable, so a quick hand-off costs no futex wake-up.
    pub fn wait(mut self) -> K::Output {
        match self.wait_deadline(None) {
            Some(out) => out,
            None => unreachable!("a wait without deadline only returns on completion"),
        }
    }

    /// Tries the operation once, without waiting and without registering a listener; `None`
    /// when it would have to wait. The operation stays valid and can be tried or waited on
    /// again (bindings use it for non-blocking calls and a last look at a deadline; the
    /// brief poll before parking is the wait's own, `crate::spin`).
    pub fn try_now(&mut self) -> Option<K::Output> {
        self.kind.attempt()
    }

    /// Blocks until the operation completes or `deadline` passes; `None` on timeout.
    ///
    /// The operation stays valid after a timeout and can be waited on again (bindings wait in
    /// slices to check for signals).
    ///
    /// # Blocking
    /// Polls for up to 10 µs (`PY_BUFFER_SPIN_US`; never yielding the CPU) before it sleeps
    /// on the buffer's condition variable, so a quick hand-off costs no futex wake-up.
    pub fn wait_deadline(&mut self, deadline: Option<Instant>) -> Option<K::Output> {
        wait_attempt(&mut self.kind, deadline)
    }
}

impl<K: Attempt + Unpin> Future for Op<K> {
    type Output = K::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<K::Output> {
        let this = self.get_mut();
        poll_attempt(&mut this.kind, &mut this.listener, cx)
    }
}

impl<K> std::fmt::Debug for Op<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op")
            .field("listening", &self.listener.is_some())
            .finish()
    }
}
