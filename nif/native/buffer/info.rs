//! `info/1` and `live_buffers/0`: what a buffer (and the library) looks like now.

use rustler::{Encoder, Env, NifResult, Term};

use crate::atoms;
use crate::buffer::errors;
use crate::buffer::{self, Buffer};

fn or_undefined<'a, T: Encoder>(env: Env<'a>, value: Option<T>) -> Term<'a> {
    match value {
        Some(v) => v.encode(env),
        None => atoms::undefined().encode(env),
    }
}

/// `info(Buf)`: a map with
/// `written` (bytes written), `read` (the read position), `buffered` (written, not yet read),
/// `retained` (bytes held in memory), `content_length` and `max_buffered`
/// (`undefined` when not set), `closed`, `aborted` (`false` or the reason), `reader_closed`,
/// `ended` (no more bytes will come), `eof` (ended and all read), `demanded` (a reader has
/// had to wait for bytes: the `demand` message), `owner` (pid) and
/// `subscriber` (pid or `undefined`).
#[rustler::nif]
fn info<'a>(env: Env<'a>, buf: &'a Buffer) -> NifResult<Term<'a>> {
    let info = buf.writer().info();
    let aborted = match &info.aborted {
        Some(why) => errors::abort_reason(env, buf, why),
        None => false.encode(env),
    };
    let eof = info.ended && info.unread == 0;
    let keys = [
        atoms::written().encode(env),
        atoms::read().encode(env),
        atoms::buffered().encode(env),
        atoms::retained().encode(env),
        atoms::content_length().encode(env),
        atoms::max_buffered().encode(env),
        atoms::closed().encode(env),
        atoms::aborted().encode(env),
        atoms::reader_closed().encode(env),
        atoms::ended().encode(env),
        atoms::eof().encode(env),
        atoms::demanded().encode(env),
        atoms::owner().encode(env),
        atoms::subscriber().encode(env),
    ];
    let values = [
        info.written.encode(env),
        info.position.encode(env),
        info.unread.encode(env),
        info.retained.encode(env),
        or_undefined(env, info.content_length),
        or_undefined(env, info.max_buffered),
        info.closed.encode(env),
        aborted,
        info.reader_closed.encode(env),
        info.ended.encode(env),
        eof.encode(env),
        info.demanded.encode(env),
        buf.owner().pid.encode(env),
        or_undefined(env, buf.notifier().subscriber()),
    ];
    Term::map_from_term_arrays(env, &keys, &values)
}

/// `live_buffers()`: how many buffers exist (not yet garbage collected). For leak checks.
#[rustler::nif]
fn live_buffers() -> usize {
    buffer::live()
}
