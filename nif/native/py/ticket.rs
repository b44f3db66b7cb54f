//! The caller's claim on one reply: lets `py:call/5` give up after a timeout without a late
//! `{py_result, Ref, _}` ever landing in its mailbox, and lets it interrupt the Python code.
//!
//! The worker sends the reply while holding the ticket's lock and only if the ticket is still
//! pending; `py_cancel/1` takes the same lock. So `cancelled` means no reply will come, and
//! `replied` means the reply is already on its way to the mailbox (wait for it).
//!
//! A ticket also records the thread running its job ([`Ticket::start`] .. [`Ticket::finish`],
//! both under the GIL), so a cancel can raise `TimeoutError` in that thread
//! ([`crate::py::interrupt`]). A cancelled job still running is *stuck*: counted until it
//! returns ([`stuck`]), and when every thread of the shared pool is stuck, new context-free
//! calls are refused (`{error, overloaded}`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rustler::{Atom, ResourceArc};

use crate::atoms;

/// Stuck jobs of the shared pool, of contexts.
static STUCK_POOL: AtomicUsize = AtomicUsize::new(0);
static STUCK_CONTEXTS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Cancelled,
    Replied,
}

struct Slot {
    state: State,
    /// The Python thread id (`pthread_self`) running the job, while it runs.
    thread: Option<libc::c_long>,
}

/// One pending reply.
pub struct Ticket {
    slot: Mutex<Slot>,
    /// Queued on the shared pool (not a context).
    pool: bool,
}

#[rustler::resource_impl]
impl rustler::Resource for Ticket {}

/// (stuck jobs of the shared pool, stuck jobs of contexts).
pub fn stuck() -> (usize, usize) {
    (
        STUCK_POOL.load(Ordering::Relaxed),
        STUCK_CONTEXTS.load(Ordering::Relaxed),
    )
}

impl Ticket {
    /// A pending ticket, as a resource the caller keeps.
    pub fn new(pool: bool) -> ResourceArc<Ticket> {
        ResourceArc::new(Ticket {
            slot: Mutex::new(Slot {
                state: State::Pending,
                thread: None,
            }),
            pool,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn counter(&self) -> &'static AtomicUsize {
        if self.pool {
            &STUCK_POOL
        } else {
            &STUCK_CONTEXTS
        }
    }

    /// The job starts on `thread` (call with the GIL held); false if the caller gave up.
    pub fn start(&self, thread: libc::c_long) -> bool {
        let mut slot = self.lock();
        if slot.state == State::Cancelled {
            return false;
        }
        slot.thread = Some(thread);
        true
    }

    /// The job returned (call with the GIL held, before releasing it).
    pub fn finish(&self) {
        let mut slot = self.lock();
        if slot.thread.take().is_some() && slot.state == State::Cancelled {
            self.counter().fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The thread running the job, if it still runs (read with the GIL held).
    pub fn running_thread(&self) -> Option<libc::c_long> {
        self.lock().thread
    }

    /// Runs `send` unless the caller gave up; the ticket is then replied.
    pub fn reply(&self, send: impl FnOnce()) {
        let mut slot = self.lock();
        if slot.state == State::Pending {
            send();
            slot.state = State::Replied;
        }
    }

    /// Gives up on the reply: `cancelled` (none will come) or `replied` (it was sent); and
    /// whether the job is running (then it should be interrupted).
    pub fn cancel(&self) -> (Atom, bool) {
        let mut slot = self.lock();
        match slot.state {
            State::Replied => (atoms::replied(), false),
            State::Cancelled => (atoms::cancelled(), false),
            State::Pending => {
                slot.state = State::Cancelled;
                let running = slot.thread.is_some();
                if running {
                    self.counter().fetch_add(1, Ordering::Relaxed);
                }
                (atoms::cancelled(), running)
            }
        }
    }
}
