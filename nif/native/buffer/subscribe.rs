//! `subscribe/1,2,3`, `unsubscribe/1`, `activate/1`: who gets readiness messages (of which
//! kinds), and re-arming. See [`crate::buffer::notify`] for the protocol.

use py_buffer_core::Edge;
use rustler::{Atom, Env, Error, LocalPid, NifResult, Term};

use crate::atoms;
use crate::buffer::notify::{bit, ALL};
use crate::buffer::{Buffer, BufferArc};

fn subscribe_pid<'a>(
    env: Env<'a>,
    buf_term: Term<'a>,
    pid: LocalPid,
    kinds: u8,
) -> NifResult<Atom> {
    let buf: BufferArc = buf_term.decode()?;
    buf.notifier().subscribe(env, &buf, buf_term, pid, kinds);
    Ok(atoms::ok())
}

/// The set of edge kinds ([`bit`]s) a proper list of event atoms names; `badarg` for any
/// other term.
pub fn kinds_of(events: Term<'_>) -> NifResult<u8> {
    // An improper list has no length (decoding it as a Vec would stop at its tail).
    events.list_length()?;
    events
        .decode::<Vec<Atom>>()?
        .into_iter()
        .try_fold(0, |kinds, event| Ok(kinds | bit(edge_of(event)?)))
}

/// The edge kind an event atom names; `badarg` for any other term.
fn edge_of(event: Atom) -> NifResult<Edge> {
    [
        (atoms::readable(), Edge::Readable),
        (atoms::writable(), Edge::Writable),
        (atoms::eof(), Edge::Eof),
        (atoms::reader_closed(), Edge::ReaderClosed),
        (atoms::demand(), Edge::Demand),
    ]
    .into_iter()
    .find_map(|(name, edge)| (name == event).then_some(edge))
    .ok_or(Error::BadArg)
}

/// `subscribe(Buf)`: the caller becomes the subscriber, armed for every event; conditions
/// that already hold are reported at once.
#[rustler::nif(name = "subscribe")]
fn subscribe_1<'a>(env: Env<'a>, buf_term: Term<'a>) -> NifResult<Atom> {
    subscribe_pid(env, buf_term, env.pid(), ALL)
}

/// `subscribe(Buf, Pid)`: `Pid` becomes the subscriber (replacing any other).
#[rustler::nif(name = "subscribe")]
fn subscribe_2<'a>(env: Env<'a>, buf_term: Term<'a>, pid: LocalPid) -> NifResult<Atom> {
    subscribe_pid(env, buf_term, pid, ALL)
}

/// `subscribe(Buf, Pid, Events)`: `Pid` becomes the subscriber for the kinds in `Events`
/// only (a proper list of event atoms; `badarg` otherwise): the others are never sent.
#[rustler::nif(name = "subscribe")]
fn subscribe_3<'a>(
    env: Env<'a>,
    buf_term: Term<'a>,
    pid: LocalPid,
    events: Term<'a>,
) -> NifResult<Atom> {
    subscribe_pid(env, buf_term, pid, kinds_of(events)?)
}

/// `unsubscribe(Buf)`: no more messages (messages already sent stay in the mailbox).
#[rustler::nif]
fn unsubscribe(buf: &Buffer) -> Atom {
    buf.notifier().unsubscribe();
    atoms::ok()
}

/// `activate(Buf)`: re-arms every event subscribed to; those whose condition holds now are
/// sent at once.
#[rustler::nif]
fn activate<'a>(env: Env<'a>, buf_term: Term<'a>) -> NifResult<Atom> {
    let buf: &Buffer = buf_term.decode()?;
    buf.notifier().activate(env, buf_term, buf);
    Ok(atoms::ok())
}
