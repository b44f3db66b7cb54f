//! The two drivers of every operation: an async poll and a blocking wait.
//!
//! Both run the same loop over the same listeners: try, listen, try again, then wait (or
//! return `Pending`). The second try closes the race where the state changes between the first
//! try and the listener's registration, so no wake-up is ever lost. Blocking callers use the
//! very same operation values the async API returns: `reader.read(4).wait()`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use event_listener::{EventListener, Listener};

use crate::shared::{Interest, Shared};

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
    /// Registers a listener on the event that may let the operation complete.
    fn listen(&self) -> EventListener;
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

    fn listen(&self) -> EventListener {
        self.shared.listen(self.interest)
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
            None => *listener = Some(op.listen()),
            Some(waiting) => {
                if Pin::new(waiting).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                *listener = None;
            }
        }
    }
}

/// Blocks the thread on `op` until it completes or `deadline` passes (`None` then).
pub(crate) fn wait_attempt<A: Attempt>(
    op: &mut A,
    listener: &mut Option<EventListener>,
    deadline: Option<Instant>,
) -> Option<A::Output> {
    loop {
        if let Some(out) = op.attempt() {
            *listener = None;
            return Some(out);
        }
        match listener.take() {
            None => *listener = Some(op.listen()),
            Some(waiting) => match deadline {
                None => waiting.wait(),
                Some(deadline) => {
                    if waiting.wait_deadline(deadline).is_none() {
                        return op.attempt();
                    }
                }
            },
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
    /// Parks the thread on the buffer's listener; never spins.
    pub fn wait(mut self) -> K::Output {
        match self.wait_deadline(None) {
            Some(out) => out,
            None => unreachable!("a wait without deadline only returns on completion"),
        }
    }

    /// Tries the operation once, without waiting and without registering a listener; `None`
    /// when it would have to wait. The operation stays valid and can be tried or waited on
    /// again (bindings poll with this briefly before parking).
    pub fn try_now(&mut self) -> Option<K::Output> {
        self.kind.attempt()
    }

    /// Blocks until the operation completes or `deadline` passes; `None` on timeout.
    ///
    /// The operation stays valid after a timeout and can be waited on again (bindings wait in
    /// slices to check for signals).
    ///
    /// # Blocking
    /// Parks the thread on the buffer's listener; never spins.
    pub fn wait_deadline(&mut self, deadline: Option<Instant>) -> Option<K::Output> {
        wait_attempt(&mut self.kind, &mut self.listener, deadline)
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
