//! What a read asks for, and the rule that decides whether it can complete now.
//!
//! Every read operation, async or blocking, is one [`ReadKind`] plus this decision; the
//! drivers only repeat "decide, listen, decide again, wait". A read either completes with a
//! number of bytes to take, waits, or fails — and a failing read consumes nothing, so the bytes
//! that did arrive stay readable (by `read1`, `read_nonblock`, `peek`) before the error repeats.

use crate::error::Error;
use crate::state::{Ending, State};

/// The shape of one read request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    /// Exactly `n` bytes; fewer only at a clean EOF (`read(n)`).
    Exact(usize),
    /// Everything up to EOF (`read()`).
    ToEnd,
    /// Between 1 and `n` bytes, waiting only while none are there (`read1(n)`); 0 at EOF.
    Available(usize),
    /// Up to `n` of the bytes already there; never waits (`read_nonblock(n)`).
    Immediate(usize),
    /// Up to and including the first `delim`, at most `limit` bytes (`readline`,
    /// `read_until`); the rest of the body at a clean EOF.
    Until {
        /// The delimiter byte.
        delim: u8,
        /// The most bytes to return, `None` for no limit.
        limit: Option<usize>,
    },
    /// Whole lines until their total reaches `hint` bytes (`readlines(hint)`); with `hint` 0,
    /// every line up to EOF.
    Lines {
        /// Stop once the lines taken add up to at least this many bytes.
        hint: usize,
    },
}

/// What a read can do right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Take this many bytes from the read position.
    Take(usize),
    /// Nothing to do until the state changes.
    Wait,
    /// The body ended in error and the request cannot be met.
    Fail(Error),
}

/// Remembers how far a delimiter search got, so a long line arriving in small pieces is not
/// rescanned from its start on every wake-up. Valid only while the read position is unchanged.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Scan {
    at_pos: u64,
    scanned_to: u64,
}

impl ReadKind {
    /// Decides this request against `state`.
    pub(crate) fn decide(&self, state: &State, scan: &mut Scan) -> Decision {
        let pos = state.pos;
        let written = state.store.end();
        let avail = (written - pos) as usize;
        let need_more = |state: &State, take_at_clean_end: usize| match state.ending() {
            None => Decision::Wait,
            Some(Ending::Clean) => Decision::Take(take_at_clean_end),
            Some(Ending::Failed(e)) => Decision::Fail(e),
        };
        match *self {
            ReadKind::Exact(n) if avail >= n => Decision::Take(n),
            ReadKind::Exact(_) | ReadKind::ToEnd => need_more(state, avail),
            ReadKind::Available(n) if avail > 0 || n == 0 => Decision::Take(n.min(avail)),
            ReadKind::Available(_) => need_more(state, 0),
            ReadKind::Immediate(n) if avail > 0 || n == 0 => Decision::Take(n.min(avail)),
            ReadKind::Immediate(_) => match state.ending() {
                Some(Ending::Failed(e)) => Decision::Fail(e),
                _ => Decision::Take(0),
            },
            ReadKind::Until { delim, limit } => {
                let limit = limit.unwrap_or(usize::MAX);
                let window = avail.min(limit);
                let from = scan.resume(pos, pos);
                let to = pos + window as u64;
                if from < to {
                    if let Some(at) = state.store.find_byte(delim, from, to) {
                        return Decision::Take((at + 1 - pos) as usize);
                    }
                }
                scan.record(pos, to.max(from));
                if avail >= limit {
                    Decision::Take(limit)
                } else {
                    need_more(state, avail)
                }
            }
            ReadKind::Lines { hint: 0 } => need_more(state, avail),
            ReadKind::Lines { hint } => {
                let from = scan.resume(pos, pos.saturating_add(hint as u64 - 1));
                if from < written {
                    if let Some(at) = state.store.find_byte(b'\n', from, written) {
                        return Decision::Take((at + 1 - pos) as usize);
                    }
                    scan.record(pos, written);
                }
                need_more(state, avail)
            }
        }
    }
}

/// Decides `kind` against `state` and, when the read must wait, sets aside the unread bytes
/// if the bound is what keeps more from arriving ([`State::set_aside`]) and raises
/// [`crate::Edge::Demand`] the first time ([`State::demand`]). Every read that may wait goes
/// through this, blocking or not (a non-blocking attempt that says "wait" has set aside too,
/// so the binding's next attempt after a `Readable` edge finds more).
pub(crate) fn decide_mut(
    kind: &ReadKind,
    state: &mut State,
    scan: &mut Scan,
    fx: &mut crate::state::Effects,
) -> Decision {
    let decision = kind.decide(state, scan);
    if decision == Decision::Wait {
        state.set_aside(fx);
        state.demand(fx);
    }
    decision
}

impl Scan {
    /// Where to start searching: past what was already searched, and never before `floor`.
    fn resume(&self, pos: u64, floor: u64) -> u64 {
        if self.at_pos == pos {
            self.scanned_to.max(floor)
        } else {
            floor
        }
    }

    fn record(&mut self, pos: u64, scanned_to: u64) {
        self.at_pos = pos;
        self.scanned_to = scanned_to;
    }
}
