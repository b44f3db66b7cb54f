//! The caller's claim on one reply: lets `py:call/5` give up after a timeout without a late
//! `{py_result, Ref, _}` ever landing in its mailbox, and lets it interrupt the Python code.
//!
//! The worker sends the reply while holding the ticket's lock and only if the ticket is still
//! pending; `py_cancel/1` takes the same lock. So `cancelled` means no reply will come, and
//! `replied` means the reply is already on its way to the mailbox (wait for it).
//!
//! A ticket also records the thread running its job ([`Ticket::start`] .. [`Ticket::finish`],
//! both under the GIL), so a cancel can raise `TimeoutError` in that thread
//! ([`crate::py::interrupt`]). A cancelled job still running is *stuck*: counted by its
//! queue until it returns, and when every thread a queue may have is stuck (the one thread
//! of a context, `max_workers` for the pool), new calls to it are refused
//! (`{error, overloaded}`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rustler::{Atom, ResourceArc};

use crate::atoms;

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
    /// The stuck-job counter of the queue the job goes to.
    stuck: Option<Arc<AtomicUsize>>,
}

#[rustler::resource_impl]
impl rustler::Resource for Ticket {}

impl Ticket {
    /// A pending ticket, as a resource the caller keeps.
    pub fn new(stuck: Option<Arc<AtomicUsize>>) -> ResourceArc<Ticket> {
        ResourceArc::new(Ticket {
            slot: Mutex::new(Slot {
                state: State::Pending,
                thread: None,
            }),
            stuck,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, up: bool) {
        if let Some(stuck) = &self.stuck {
            if up {
                stuck.fetch_add(1, Ordering::Relaxed);
            } else {
                stuck.fetch_sub(1, Ordering::Relaxed);
            }
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

    /// The job starts on a thread that is never interrupted (no thread is recorded: a cancel
    /// only drops the reply); false if the caller gave up.
    pub fn start_uninterruptible(&self) -> bool {
        self.lock().state != State::Cancelled
    }

    /// The job returned (call with the GIL held, before releasing it).
    pub fn finish(&self) {
        let mut slot = self.lock();
        if slot.thread.take().is_some() && slot.state == State::Cancelled {
            self.count(false);
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
                    self.count(true);
                }
                (atoms::cancelled(), running)
            }
        }
    }
}
