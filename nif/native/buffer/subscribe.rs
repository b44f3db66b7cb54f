//! `subscribe/1,2`, `unsubscribe/1`, `activate/1`: who gets readiness messages, and re-arming.
//! See [`crate::buffer::notify`] for the protocol.

use rustler::{Atom, Env, LocalPid, NifResult, Term};

use crate::atoms;
use crate::buffer::{Buffer, BufferArc};

fn subscribe_pid<'a>(env: Env<'a>, buf_term: Term<'a>, pid: LocalPid) -> NifResult<Atom> {
    let buf: BufferArc = buf_term.decode()?;
    buf.notifier().subscribe(env, &buf, buf_term, pid);
    Ok(atoms::ok())
}

/// `subscribe(Buf)`: the caller becomes the subscriber, armed for every event; conditions
/// that already hold are reported at once.
#[rustler::nif(name = "subscribe")]
fn subscribe_1<'a>(env: Env<'a>, buf_term: Term<'a>) -> NifResult<Atom> {
    subscribe_pid(env, buf_term, env.pid())
}

/// `subscribe(Buf, Pid)`: `Pid` becomes the subscriber (replacing any other).
#[rustler::nif(name = "subscribe")]
fn subscribe_2<'a>(env: Env<'a>, buf_term: Term<'a>, pid: LocalPid) -> NifResult<Atom> {
    subscribe_pid(env, buf_term, pid)
}

/// `unsubscribe(Buf)`: no more messages (messages already sent stay in the mailbox).
#[rustler::nif]
fn unsubscribe(buf: &Buffer) -> Atom {
    buf.notifier().unsubscribe();
    atoms::ok()
}

/// `activate(Buf)`: re-arms every event; those whose condition holds now are sent at once.
#[rustler::nif]
fn activate<'a>(env: Env<'a>, buf_term: Term<'a>) -> NifResult<Atom> {
    let buf: &Buffer = buf_term.decode()?;
    buf.notifier().activate(env, buf_term, buf);
    Ok(atoms::ok())
}
