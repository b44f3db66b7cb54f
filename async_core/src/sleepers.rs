//! Threads blocked in [`crate::Op::wait`]: they sleep on a condition variable of the buffer,
//! and a change wakes them only after it has released every lock it held.
//!
//! Async waiters use the events' `event_listener` lists; blocking threads do not, because
//! `Event::notify` unparks a thread while it holds the list's lock. Linux runs a woken thread
//! on the waker's CPU and lets it preempt the waker; the woken thread's first step is to take
//! that lock to deregister, so it blocks again, the waker runs on, releases the lock and wakes
//! it a second time. A third of the wake-ups of a Python `read(8)` fed by an Erlang writer paid
//! that double switch (`perf sched`, docs/benchmarks.md). Here the waker wakes after its
//! critical sections, and a woken thread takes only this lock, which no waker holds then.
//!
//! The protocol, so that no wake-up is lost: a waiter counts itself as asleep, reads its
//! interest's turn, then tries the operation under the state lock; if it must wait, it sleeps
//! only if the turn is unchanged when checked under `lock`. A change reads the asleep counts
//! under the state lock (so after any try it did not satisfy, whose waiter is then counted);
//! when one is non-zero it moves the turn on under `lock` and then wakes the sleepers.

use std::time::Instant;

use crate::shared::Interest;
use crate::sync::{AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};

/// `Sleepers::asleep`: one waiter for readable; the writable count is the upper half.
const READER: usize = 1;
const WRITER: usize = 1 << (usize::BITS / 2);
const READERS: usize = WRITER - 1;

pub(crate) struct Sleepers {
    lock: Mutex<()>,
    readable: Condvar,
    writable: Condvar,
    /// Blocked waiters by interest: `READER`s in the lower half, `WRITER`s in the upper one.
    asleep: AtomicUsize,
    /// Moved on, under `lock`, by every wake-up of readable (`[0]`) or writable (`[1]`).
    turns: [AtomicUsize; 2],
}

/// What a waiter saw before its try: its interest and that interest's turn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    interest: Interest,
    turn: usize,
}

/// Which waiters a state change must wake; read under the state lock ([`Sleepers::asleep`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asleep(usize);

impl Asleep {
    #[inline]
    pub(crate) fn readers(self) -> bool {
        self.0 & READERS != 0
    }

    #[inline]
    pub(crate) fn writers(self) -> bool {
        self.0 & !READERS != 0
    }
}

fn index(interest: Interest) -> usize {
    match interest {
        Interest::Readable => 0,
        Interest::Writable => 1,
    }
}

fn one(interest: Interest) -> usize {
    match interest {
        Interest::Readable => READER,
        Interest::Writable => WRITER,
    }
}

impl Sleepers {
    pub(crate) fn new() -> Self {
        Self {
            lock: Mutex::new(()),
            readable: Condvar::new(),
            writable: Condvar::new(),
            asleep: AtomicUsize::new(0),
            turns: [AtomicUsize::new(0), AtomicUsize::new(0)],
        }
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        // Nothing is guarded but the order of checks and wake-ups: poison means nothing.
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn condvar(&self, interest: Interest) -> &Condvar {
        match interest {
            Interest::Readable => &self.readable,
            Interest::Writable => &self.writable,
        }
    }

    /// Counts the caller as asleep on `interest`; call before the try that may fail. Every
    /// ticket is given back through [`Sleepers::sleep`] or [`Sleepers::leave`].
    pub(crate) fn enter(&self, interest: Interest) -> Ticket {
        // Relaxed: the try that follows takes and releases the state lock, which orders this
        // count before any change that try did not see (the change reads it under that lock).
        self.asleep.fetch_add(one(interest), Ordering::Relaxed);
        Ticket {
            interest,
            // A turn moved on after this read belongs to a change the try has not seen.
            turn: self.turns[index(interest)].load(Ordering::Relaxed),
        }
    }

    /// Gives a ticket back without sleeping (the try completed).
    pub(crate) fn leave(&self, ticket: Ticket) {
        self.asleep
            .fetch_sub(one(ticket.interest), Ordering::Relaxed);
    }

    /// Sleeps until a change of `ticket`'s interest since the ticket was taken, a spurious
    /// wake-up, or `deadline`; false when `deadline` has passed. Gives the ticket back.
    pub(crate) fn sleep(&self, ticket: Ticket, deadline: Option<Instant>) -> bool {
        let turn = &self.turns[index(ticket.interest)];
        let condvar = self.condvar(ticket.interest);
        let guard = self.guard();
        let in_time = if turn.load(Ordering::Relaxed) != ticket.turn {
            true
        } else {
            match deadline {
                None => {
                    drop(condvar.wait(guard));
                    crate::wake_trace::mark(crate::wake_trace::Point::WaitReturned);
                    true
                }
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => {
                        let (_guard, waited) = condvar
                            .wait_timeout(guard, left)
                            .unwrap_or_else(|poisoned| poisoned.into_inner());
                        !waited.timed_out()
                    }
                    _ => false,
                },
            }
        };
        self.leave(ticket);
        in_time
    }

    /// Who is asleep; read under the state lock by every change.
    #[inline]
    pub(crate) fn asleep(&self) -> Asleep {
        Asleep(self.asleep.load(Ordering::Relaxed))
    }

    /// Wakes every thread asleep on `interest`. Called with no other lock held.
    pub(crate) fn wake(&self, interest: Interest) {
        {
            let _guard = self.guard();
            self.turns[index(interest)].fetch_add(1, Ordering::Relaxed);
        }
        crate::wake_trace::mark(crate::wake_trace::Point::Notify);
        self.condvar(interest).notify_all();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_ticket_taken_before_a_wake_does_not_sleep() {
        let sleepers = Sleepers::new();
        let ticket = sleepers.enter(Interest::Readable);
        sleepers.wake(Interest::Readable);
        // No deadline: this would block for ever if the wake-up were lost.
        assert!(sleepers.sleep(ticket, None));
        assert_eq!(sleepers.asleep.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_wake_of_the_other_interest_is_not_a_change() {
        let sleepers = Sleepers::new();
        let ticket = sleepers.enter(Interest::Writable);
        sleepers.wake(Interest::Readable);
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(!sleepers.sleep(ticket, Some(deadline)));
        assert!(Instant::now() >= deadline);
        assert_eq!(sleepers.asleep.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn counts_by_interest_until_each_ticket_is_given_back() {
        let sleepers = Sleepers::new();
        let readers = [
            sleepers.enter(Interest::Readable),
            sleepers.enter(Interest::Readable),
        ];
        let writer = sleepers.enter(Interest::Writable);
        let asleep = sleepers.asleep();
        assert!(asleep.readers() && asleep.writers());
        assert_eq!(asleep.0, 2 * READER + WRITER);
        sleepers.leave(writer);
        assert!(sleepers.asleep().readers() && !sleepers.asleep().writers());
        for ticket in readers {
            // A deadline already passed: no sleep, the ticket is given back.
            assert!(!sleepers.sleep(ticket, Some(Instant::now())));
        }
        assert_eq!(sleepers.asleep.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_wake_reaches_every_sleeper_of_its_interest() {
        const THREADS: usize = 4;
        let sleepers = Arc::new(Sleepers::new());
        let tickets: Vec<Ticket> = (0..THREADS)
            .map(|_| sleepers.enter(Interest::Readable))
            .collect();
        let handles: Vec<_> = tickets
            .into_iter()
            .map(|ticket| {
                let sleepers = Arc::clone(&sleepers);
                std::thread::spawn(move || sleepers.sleep(ticket, None))
            })
            .collect();
        // Whether each thread is already waiting or not, the turn has moved on for its ticket.
        sleepers.wake(Interest::Readable);
        for handle in handles {
            assert!(handle.join().unwrap());
        }
        assert_eq!(sleepers.asleep.load(Ordering::Relaxed), 0);
    }
}
