//! The caller's claim on one reply: lets `py:call/5` give up after a timeout without a late
//! `{py_result, Ref, _}` ever landing in its mailbox.
//!
//! The worker sends the reply while holding the ticket's lock and only if the ticket is still
//! pending; `py_cancel/1` takes the same lock. So `cancelled` means no reply will come, and
//! `replied` means the reply is already on its way to the mailbox (wait for it).

use std::sync::Mutex;

use rustler::{Atom, ResourceArc};

use crate::atoms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Cancelled,
    Replied,
}

/// One pending reply.
pub struct Ticket {
    state: Mutex<State>,
}

#[rustler::resource_impl]
impl rustler::Resource for Ticket {}

impl Ticket {
    /// A pending ticket, as a resource the caller keeps.
    pub fn new() -> ResourceArc<Ticket> {
        ResourceArc::new(Ticket {
            state: Mutex::new(State::Pending),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True once the caller gave up: the job need not run.
    pub fn is_cancelled(&self) -> bool {
        *self.lock() == State::Cancelled
    }

    /// Runs `send` unless the caller gave up; the ticket is then replied.
    pub fn reply(&self, send: impl FnOnce()) {
        let mut state = self.lock();
        if *state == State::Pending {
            send();
            *state = State::Replied;
        }
    }

    /// Gives up on the reply: `cancelled` (none will come) or `replied` (it was sent).
    pub fn cancel(&self) -> Atom {
        let mut state = self.lock();
        match *state {
            State::Replied => atoms::replied(),
            State::Pending | State::Cancelled => {
                *state = State::Cancelled;
                atoms::cancelled()
            }
        }
    }
}
