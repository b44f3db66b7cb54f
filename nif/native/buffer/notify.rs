//! Readiness messages: core edges become `{py_buffer, Buf, Event}` messages to the subscriber,
//! one per edge kind until the subscriber re-arms (`{active, once}` style), so a mailbox never
//! floods however many writes happen.
//!
//! The core calls the observer on the thread that caused the edge, after its lock is released.
//! That thread is either
//! - an Erlang scheduler (normal or dirty) running one of our NIFs: the NIF runs the core call
//!   inside [`run`], which captures the edges in a thread-local, and then sends them with the
//!   caller's env (the only env `enif_send` accepts there);
//! - a thread the BEAM does not manage (a Python reader, a Rust producer): the message is sent
//!   from an `OwnedEnv`;
//! - an ERTS thread outside our NIFs (never expected): a short-lived helper thread sends.
//!
//! Most edges need no message (nobody subscribed, or that kind is disarmed after its message):
//! the armed kinds are mirrored in an atomic the observer checks first, so a write then costs
//! one atomic load here. Arming and the writer's check form a Dekker pair (each side stores,
//! fences, then reads the other's side), so `activate` either sees the new bytes or the writer
//! sees the armed bit: no wake-up is lost.
//!
//! A message names the buffer. Sending from outside a NIF call needs a resource reference the
//! notifier owns, so while a subscriber is registered and the body is open the subscription
//! holds one (`held`): a subscribed buffer lives until its body ends (close, abort, content
//! length reached, or its owner's death) or it is unsubscribed, like an open port.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{fence, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use py_buffer_core::{Edge, Info, Observer};
use rustler::{Atom, Encoder, Env, LocalPid, OwnedEnv, Term};

use crate::atoms;
use crate::buffer::{lock, Buffer, BufferArc};

/// Who is told about a buffer's edges, and which edges are armed.
#[derive(Default)]
pub struct Notifier {
    sub: Mutex<Subscription>,
    /// One bit per edge kind ([`bit`]) armed for a subscriber; a message disarms its kind.
    /// Changed only with `sub` locked; read without it by the observer's fast path.
    armed: AtomicU8,
    /// Bytes written (or fewer) when an Erlang `readline`/`read_all` last returned `eagain`,
    /// [`NOT_WAITING`] when none is waiting: `activate` reports `readable` only for bytes
    /// written since (see [`Notifier::read_waits`]).
    waiting_at: WaitMark,
}

/// No Erlang read waits for bytes beyond those there.
const NOT_WAITING: u64 = u64::MAX;

/// See [`Notifier::read_waits`].
struct WaitMark(AtomicU64);

impl Default for WaitMark {
    fn default() -> Self {
        Self(AtomicU64::new(NOT_WAITING))
    }
}

#[derive(Default)]
struct Subscription {
    pid: Option<LocalPid>,
    /// A `writable` edge passed while disarmed (or unsubscribed): `activate` reports it.
    pending_writable: bool,
    /// The `demand` edge (raised once per buffer) passed while disarmed (or unsubscribed):
    /// `activate` reports it.
    pending_demand: bool,
    /// A reference to the buffer, for messages sent from outside a NIF call.
    held: Option<BufferArc>,
    /// Kinds the subscriber did not ask for ([`Notifier::subscribe`]): never armed, never sent.
    ignored: u8,
}

/// Every kind of edge ([`bit`]).
pub const ALL: u8 = 0b1_1111;

/// The bit of `edge` in [`Notifier`]'s armed set and in a subscription's kinds.
pub fn bit(edge: Edge) -> u8 {
    match edge {
        Edge::Readable => 1,
        Edge::Writable => 2,
        Edge::Eof => 4,
        Edge::ReaderClosed => 8,
        Edge::Demand => 16,
    }
}

fn event(edge: Edge) -> Atom {
    match edge {
        Edge::Readable => atoms::readable(),
        Edge::Writable => atoms::writable(),
        Edge::Eof => atoms::eof(),
        Edge::ReaderClosed => atoms::reader_closed(),
        Edge::Demand => atoms::demand(),
    }
}

/// True when the body can receive no more bytes from the writer: `eof` holds.
pub fn body_over(info: &Info) -> bool {
    info.closed || info.aborted.is_some() || info.content_length == Some(info.written)
}

/// The observer registered with the core: forwards edges to the notifier.
struct Sink(Arc<Notifier>);

impl Observer for Sink {
    /// Asked under the buffer's lock: `activate` arms, then reads the state under that lock,
    /// so either it sees the change or this load sees the armed bit (a bit cleared since then
    /// was cleared by the message it armed for).
    fn wants(&self, edge: Edge) -> bool {
        matches!(edge, Edge::Writable | Edge::Demand | Edge::Eof)
            || self.0.armed.load(Ordering::Relaxed) & bit(edge) != 0
    }

    fn on_edge(&self, edge: Edge) {
        // `writable` and `demand` are remembered while disarmed (see `decide`), so they always
        // go on; both are rare (once per refused write, once per buffer). So is `eof`, which
        // ends the subscription's hold on the buffer even when no message is due for it.
        if !matches!(edge, Edge::Writable | Edge::Demand) {
            // Pairs with the fence in `activate_locked`: the state change that caused this edge
            // is ordered before this load.
            fence(Ordering::SeqCst);
            if self.0.armed.load(Ordering::SeqCst) & bit(edge) == 0 {
                if edge == Edge::Eof {
                    self.0.release_hold();
                }
                return;
            }
        }
        let captured = CAPTURE.with(|capture| {
            if capture.active.get() {
                capture.edges.borrow_mut().push((Arc::clone(&self.0), edge));
                true
            } else {
                false
            }
        });
        if !captured {
            self.0.edge_outside(edge);
        }
    }
}

/// Edges caused by the NIF call running on this thread, delivered when it returns.
struct Capture {
    active: Cell<bool>,
    edges: RefCell<Vec<(Arc<Notifier>, Edge)>>,
}

thread_local! {
    static CAPTURE: Capture = const {
        Capture {
            active: Cell::new(false),
            edges: RefCell::new(Vec::new()),
        }
    };
}

/// Ends a capture even if the captured call panics.
struct CaptureGuard(bool);

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|capture| {
            capture.active.set(self.0);
            if std::thread::panicking() {
                // The edges of a call that panicked are not sent (rustler raises instead).
                capture.edges.borrow_mut().clear();
            }
        });
    }
}

/// Runs `f` (a core call made inside a NIF) and sends the messages for the edges it caused
/// with the caller's `env`. `buf` is the term of the buffer the call is about, if any; edges of
/// other buffers use the reference their subscription holds.
pub fn run<'a, R>(
    env: Env<'a>,
    buf: Option<(&Arc<Notifier>, Term<'a>)>,
    f: impl FnOnce() -> R,
) -> R {
    let guard = CaptureGuard(CAPTURE.with(|capture| capture.active.replace(true)));
    let result = f();
    drop(guard);
    CAPTURE.with(|capture| {
        if capture.edges.borrow().is_empty() {
            return;
        }
        let mut edges = std::mem::take(&mut *capture.edges.borrow_mut());
        for (notifier, edge) in edges.drain(..) {
            let term = buf.and_then(|(n, t)| Arc::ptr_eq(n, &notifier).then_some(t));
            notifier.edge_in_call(env, term, edge);
        }
        // Keep the allocation for the next call.
        *capture.edges.borrow_mut() = edges;
    });
    result
}

impl Notifier {
    /// The observer to register with the core for this notifier.
    pub fn observer(this: &Arc<Self>) -> Arc<dyn Observer> {
        Arc::new(Sink(Arc::clone(this)))
    }

    /// Decides, with `sub` locked, whether `edge` produces a message: returns the subscriber
    /// to tell, and disarms that kind.
    fn decide(&self, sub: &mut Subscription, edge: Edge) -> Option<LocalPid> {
        let b = bit(edge);
        match sub.pid {
            Some(pid) if self.armed.load(Ordering::SeqCst) & b != 0 => {
                self.armed.fetch_and(!b, Ordering::SeqCst);
                Some(pid)
            }
            _ => {
                match edge {
                    Edge::Writable => sub.pending_writable = true,
                    Edge::Demand => sub.pending_demand = true,
                    _ => {}
                }
                None
            }
        }
    }

    /// An edge caused inside a NIF call on a scheduler: sent with the caller's env.
    fn edge_in_call<'a>(&self, env: Env<'a>, buf: Option<Term<'a>>, edge: Edge) {
        let mut sub = lock(&self.sub);
        let released = if edge == Edge::Eof {
            sub.held.take()
        } else {
            None
        };
        if let Some(pid) = self.decide(&mut sub, edge) {
            let held = released.as_ref().or(sub.held.as_ref());
            let term = buf.or_else(|| held.map(|arc| arc.encode(env)));
            if let Some(term) = term {
                // A dead subscriber is not an error.
                let _ = env.send(&pid, (atoms::py_buffer(), term, event(edge)));
            }
        }
        drop(sub);
        drop(released);
    }

    /// An edge caused outside our NIF calls (a Python or Rust thread). The message is sent
    /// with the subscription locked, so when `unsubscribe` (or a `subscribe` replacing the
    /// subscriber) returns, every message of the old subscription is already in its
    /// mailbox: none arrives later (sending after unlocking let hundreds a run through).
    fn edge_outside(&self, edge: Edge) {
        let mut sub = lock(&self.sub);
        let released = if edge == Edge::Eof {
            sub.held.take()
        } else {
            None
        };
        if let Some(pid) = self.decide(&mut sub, edge) {
            if let Some(held) = released.as_ref().or(sub.held.as_ref()) {
                send_from_outside(pid, held.clone(), edge);
            }
        }
        drop(sub);
        drop(released);
    }

    /// Registers `pid` as the subscriber (replacing any other) for the edge kinds in `kinds`
    /// ([`bit`]s; [`ALL`] for every one), arms them and reports the conditions that already
    /// hold. Kinds left out are never sent.
    pub fn subscribe(
        &self,
        env: Env<'_>,
        buf: &BufferArc,
        term: Term<'_>,
        pid: LocalPid,
        kinds: u8,
    ) {
        let mut sub = lock(&self.sub);
        sub.pid = Some(pid);
        sub.ignored = ALL & !kinds;
        let info = self.activate_locked(env, term, &mut sub, buf);
        let old = std::mem::replace(&mut sub.held, (!body_over(&info)).then(|| buf.clone()));
        drop(sub);
        drop(old);
    }

    /// Drops the subscription's reference to the buffer (the body is over: no more bytes,
    /// so no more `readable` or `eof` to send from outside a NIF call).
    fn release_hold(&self) {
        let released = lock(&self.sub).held.take();
        drop(released);
    }

    /// Removes the subscriber; no more messages.
    pub fn unsubscribe(&self) {
        let mut sub = lock(&self.sub);
        sub.pid = None;
        self.armed.store(0, Ordering::SeqCst);
        let old = sub.held.take();
        drop(sub);
        drop(old);
    }

    /// An Erlang read that returns `eagain` although bytes are there (a `readline` waiting
    /// for the rest of a line, a `read_all` waiting for the end, bytes set aside) records
    /// `written`, the bytes written before it looked (`Some`); any other read result clears
    /// the mark (`None`). While set, `activate` reports `readable` only if more was written
    /// since (or the body is over), so "retry, `eagain`, `activate`" does not spin on the
    /// bytes the read already saw. `written` is read before the attempt, so it is never more
    /// than the read saw: a write racing the attempt gives at most one extra `readable`,
    /// never a lost one.
    pub fn read_waits(&self, written: Option<u64>) {
        self.waiting_at
            .0
            .store(written.unwrap_or(NOT_WAITING), Ordering::SeqCst);
    }

    /// True when `readable` holds for the reader: unread bytes it has not already found
    /// insufficient (see [`Notifier::read_waits`]).
    fn readable_holds(&self, info: &Info) -> bool {
        let mark = self.waiting_at.0.load(Ordering::SeqCst);
        info.unread > 0 && (mark == NOT_WAITING || info.written > mark || body_over(info))
    }

    /// Re-arms every edge kind subscribed to and at once reports, one message each, the
    /// conditions that already hold: unread bytes (`readable`; for a `readline`/`read_all`
    /// that returned `eagain`, only bytes written since), room made after a refused write
    /// (`writable`), the body over (`eof`), the reader closed (`reader_closed`), a reader's
    /// first wait that found the kind disarmed (`demand`, once per buffer). Without a
    /// subscriber, does nothing.
    pub fn activate(&self, env: Env<'_>, term: Term<'_>, buf: &Buffer) {
        let mut sub = lock(&self.sub);
        let info = self.activate_locked(env, term, &mut sub, buf);
        // The `eof` edge may have found its kind disarmed by the message just sent; the
        // reference is released here then.
        let released = if body_over(&info) {
            sub.held.take()
        } else {
            None
        };
        drop(sub);
        drop(released);
    }

    /// Arms, then reads the state: an edge caused before the state was read is reported
    /// here, one caused after finds its kind armed (see the module doc).
    fn activate_locked(
        &self,
        env: Env<'_>,
        term: Term<'_>,
        sub: &mut Subscription,
        buf: &Buffer,
    ) -> Info {
        let Some(pid) = sub.pid else {
            return buf.writer().info();
        };
        self.armed.store(ALL & !sub.ignored, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let info = buf.writer().info();
        // A remembered edge of a kind not subscribed to stays remembered, for a subscriber
        // that asks for it later.
        let ignored = sub.ignored;
        let asked = |edge| ignored & bit(edge) == 0;
        let (writable, demand) = (asked(Edge::Writable), asked(Edge::Demand));
        let holds = [
            (Edge::Readable, self.readable_holds(&info)),
            (
                Edge::Writable,
                writable && std::mem::take(&mut sub.pending_writable),
            ),
            (Edge::Eof, body_over(&info)),
            (Edge::ReaderClosed, info.reader_closed),
            (
                Edge::Demand,
                demand && std::mem::take(&mut sub.pending_demand),
            ),
        ];
        for (edge, holds) in holds {
            if holds && asked(edge) {
                self.armed.fetch_and(!bit(edge), Ordering::SeqCst);
                let _ = env.send(&pid, (atoms::py_buffer(), term, event(edge)));
            }
        }
        info
    }

    /// Whether a write may produce a message now (`readable` or `eof` armed); a hint read
    /// without the lock (see `write_with`).
    pub fn may_tell_of_write(&self) -> bool {
        self.armed.load(Ordering::Relaxed) & (bit(Edge::Readable) | bit(Edge::Eof)) != 0
    }

    /// The subscriber, if any.
    pub fn subscriber(&self) -> Option<LocalPid> {
        lock(&self.sub).pid
    }
}

/// Sends one message from a thread that is not a NIF call on a scheduler.
fn send_from_outside(pid: LocalPid, buf: BufferArc, edge: Edge) {
    let send = move || {
        let _ = OwnedEnv::new().send_and_clear(&pid, |_env| (atoms::py_buffer(), buf, event(edge)));
    };
    if rustler::thread::is_scheduler_thread() {
        // `enif_send` needs the caller's env on ERTS threads, and there is none here.
        std::thread::spawn(send);
    } else {
        send();
    }
}
