//! `new/0` and `new/1` (through `new_nif/1`): creating a buffer.
//!
//! `new(Arg)` takes `undefined` (unknown length), a content length (a non-negative integer),
//! or an options map: `content_length => non_neg_integer() | undefined`,
//! `max_buffered => pos_integer() | undefined`, `notify => pid() | undefined`,
//! `events => [event()]` (the kinds `notify` is sent; default: all), `owner => pid()`
//! (default: the caller). Anything else is `badarg`.

use std::sync::Arc;

use py_buffer_core::Options;
use rustler::{Encoder, Env, Error, LocalPid, MapIterator, NifResult, Term};

use crate::atoms;
use crate::buffer::owner;
use crate::buffer::{Buffer, BufferArc, Inner};

/// What `new/1` was asked for.
struct Request {
    options: Options,
    notify: Option<LocalPid>,
    /// The kinds of messages `notify` gets ([`crate::buffer::notify::bit`]s).
    events: u8,
    owner: Option<LocalPid>,
}

/// `Term` is `undefined`.
fn is_undefined(term: Term<'_>) -> bool {
    term.decode::<rustler::Atom>()
        .is_ok_and(|a| a == atoms::undefined())
}

fn parse(term: Term<'_>) -> NifResult<Request> {
    let mut request = Request {
        options: Options::new(),
        notify: None,
        events: crate::buffer::notify::ALL,
        owner: None,
    };
    if is_undefined(term) {
        return Ok(request);
    }
    if term.is_integer() {
        request.options = request.options.content_length(term.decode::<u64>()?);
        return Ok(request);
    }
    let entries = MapIterator::new(term).ok_or(Error::BadArg)?;
    for (key, value) in entries {
        let key: rustler::Atom = key.decode()?;
        if key == atoms::content_length() {
            if !is_undefined(value) {
                request.options = request.options.content_length(value.decode::<u64>()?);
            }
        } else if key == atoms::max_buffered() {
            if !is_undefined(value) {
                let bound: usize = value.decode()?;
                if bound == 0 {
                    return Err(Error::BadArg);
                }
                request.options = request.options.max_buffered(bound);
            }
        } else if key == atoms::notify() {
            if !is_undefined(value) {
                request.notify = Some(value.decode()?);
            }
        } else if key == atoms::events() {
            request.events = crate::buffer::subscribe::kinds_of(value)?;
        } else if key == atoms::owner() {
            request.owner = Some(value.decode()?);
        } else {
            return Err(Error::BadArg);
        }
    }
    Ok(request)
}

fn create<'a>(env: Env<'a>, request: Request) -> Term<'a> {
    let owner = request.owner.unwrap_or_else(|| env.pid());
    let inner = Inner::new(request.options, owner);
    let ask = owner::watch(&inner, &mut inner.owner());
    let buf = BufferArc::new(Buffer(Arc::clone(&inner)));
    let term = buf.encode(env);
    if let Some(pid) = request.notify {
        inner
            .notifier()
            .subscribe(env, &buf, term, pid, request.events);
    }
    if ask {
        (atoms::watch(), term, owner).encode(env)
    } else {
        (atoms::ok(), term).encode(env)
    }
}

/// `new_nif(ContentLength | undefined | Options)`: `{ok, Buf}`, or `{watch, Buf, Owner}` when
/// the Erlang wrapper must have the watcher monitor `Owner` first.
#[rustler::nif]
fn new_nif<'a>(env: Env<'a>, arg: Term<'a>) -> NifResult<Term<'a>> {
    Ok(create(env, parse(arg)?))
}
