//! Erlang-side reading, so an Erlang process can consume a buffer written elsewhere (Python,
//! Rust, another process). Reads never wait: when they would, they return `{error, eagain}`,
//! and the caller waits for `{py_buffer, Buf, readable | eof}` (after `activate/1`).
//!
//! - `read(Buf, N)`: `{ok, Bin}` with 1..N bytes, `eof` at a clean end with nothing left;
//! - `readline(Buf)` / `readline(Buf, Limit)`: `{ok, Line}` through `\n` (or `Limit` bytes,
//!   or the rest of a body that ended), `eof`;
//! - `read_all(Buf)`: `{ok, Rest}` once the body ended cleanly (possibly `<<>>`);
//! - a failed body (aborted, truncated) gives `{error, Reason}` once the bytes that did arrive
//!   cannot satisfy the read; nothing is consumed by a failing read;
//! - `close_reader(Buf)`: the consumer is done; writes fail with `reader_closed`.
//!
//! A `readline`/`read_all` that returns `eagain` although bytes are there (a partial line, a
//! body not yet ended) records how much had been written, so `activate/1` does not answer it
//! with `readable` for those same bytes ([`notify::Notifier::read_waits`]).
//!
//! Results of [`BIG`] bytes or more are Erlang binaries over the buffer's own block (no copy)
//! when the bytes lie in one block; a result lying in a kept block (a large binary written to
//! an unbounded buffer) is a sub-binary of that written binary. Either way a result pins at
//! most its own block, never the rest of the buffer. Reads that would copy more than
//! [`DIRTY_MIN`] bytes are redone on a dirty scheduler (the NIF returns `dirty` to the Erlang
//! wrapper).

use py_buffer_core::{Bytes, ReadKind, Slices};
use rustler::{
    Atom, Binary, Encoder, Env, Error, NewBinary, NifResult, Resource, ResourceArc, Term,
};

use crate::atoms;
use crate::buffer::errors;
use crate::buffer::notify;
use crate::buffer::timeslice;
use crate::buffer::Buffer;

/// Results at least this long share the buffer's memory instead of being copied.
const BIG: usize = py_buffer_core::KEEP_WITHOUT_COPY_MIN;
/// Reads that may copy more than this run on a dirty scheduler.
const DIRTY_MIN: usize = timeslice::NORMAL_COPY_MAX;

/// The estimated cost of a read apart from copying.
const READ_NS: u32 = 300;

/// Bytes handed to Erlang as a resource binary.
struct Chunk(Bytes);

#[rustler::resource_impl]
impl Resource for Chunk {}

/// The bytes taken by a read, in the form that costs least to turn into a binary.
enum Taken {
    Small(Vec<u8>),
    Big(Bytes),
}

fn take(slices: Slices<'_>) -> Taken {
    if slices.len() < BIG {
        Taken::Small(slices.to_vec())
    } else {
        Taken::Big(slices.to_bytes())
    }
}

fn binary<'a>(env: Env<'a>, buf: &Buffer, taken: Taken) -> Term<'a> {
    match taken {
        Taken::Small(bytes) => {
            let mut out = NewBinary::new(env, bytes.len());
            out.as_mut_slice().copy_from_slice(&bytes);
            Binary::from(out).encode(env)
        }
        Taken::Big(bytes) => {
            // Bytes of a kept block: a sub-binary of that block's Erlang binary (a `Chunk`
            // would keep the keeper, hence every binary written to the buffer).
            if let Some(part) = buf.kept_keeper().and_then(|k| k.binary_of(env, &bytes)) {
                return part;
            }
            let chunk = ResourceArc::new(Chunk(bytes));
            chunk.make_binary(env, |c| &c.0[..]).encode(env)
        }
    }
}

/// A decoded read request.
#[derive(Clone, Copy)]
enum Request {
    /// `read(Buf, N)`.
    Some(usize),
    /// `readline(Buf, Limit)`.
    Line(Option<usize>),
    /// `read_all(Buf)`.
    All,
}

fn parse(kind: Term<'_>) -> NifResult<Request> {
    if let Ok(atom) = kind.decode::<Atom>() {
        return if atom == atoms::read_all() {
            Ok(Request::All)
        } else {
            Err(Error::BadArg)
        };
    }
    let (tag, arg): (Atom, Term) = kind.decode()?;
    if tag == atoms::read() {
        Ok(Request::Some(arg.decode()?))
    } else if tag == atoms::readline() {
        let limit = match arg.decode::<Atom>() {
            Ok(a) if a == atoms::infinity() => None,
            Ok(_) => return Err(Error::BadArg),
            Err(_) => Some(arg.decode::<usize>()?),
        };
        Ok(Request::Line(limit))
    } else {
        Err(Error::BadArg)
    }
}

fn read_with<'a>(
    env: Env<'a>,
    buf: &Buffer,
    buf_term: Term<'a>,
    request: Request,
    on_dirty: bool,
) -> Term<'a> {
    let reader = buf.reader();
    let kind = match request {
        Request::Some(0) | Request::Line(Some(0)) => {
            return (atoms::ok(), Binary::from(NewBinary::new(env, 0))).encode(env)
        }
        Request::Some(n) => ReadKind::Available(n),
        Request::Line(limit) => ReadKind::Until {
            delim: b'\n',
            limit,
        },
        Request::All => ReadKind::ToEnd,
    };
    if !on_dirty {
        let may_copy = match request {
            Request::Some(n) => n.min(reader.readable_amount()),
            Request::Line(limit) => limit.unwrap_or(usize::MAX).min(reader.readable_amount()),
            Request::All => reader.readable_amount(),
        };
        if may_copy > DIRTY_MIN {
            return atoms::dirty().encode(env);
        }
    }
    // How much was written before the attempt: a `readline`/`read_all` that must wait
    // although bytes are there is told `readable` again only for bytes written after this.
    let seen = matches!(request, Request::Line(_) | Request::All).then(|| reader.info().written);
    let result = notify::run(env, Some((buf.notifier(), buf_term)), || {
        reader.try_read_with(kind, take)
    });
    buf.notifier()
        .read_waits(if result.is_none() { seen } else { None });
    if !on_dirty {
        let copied = match &result {
            Some(Ok(Taken::Small(bytes))) => bytes.len(),
            // Shared without copying when it lay in one block; charged as a copy regardless.
            Some(Ok(Taken::Big(bytes))) => bytes.len(),
            _ => 0,
        };
        timeslice::charge(env, timeslice::cost(READ_NS, copied));
    }
    match result {
        None => (atoms::error(), atoms::eagain()).encode(env),
        Some(Err(e)) => errors::error(env, buf, &e),
        Some(Ok(taken)) => {
            let empty = matches!(&taken, Taken::Small(v) if v.is_empty());
            if empty && !matches!(request, Request::All) {
                atoms::eof().encode(env)
            } else {
                (atoms::ok(), binary(env, buf, taken)).encode(env)
            }
        }
    }
}

/// `read_nif(Buf, Request)`: `Request` is `{read, N}`, `{readline, Limit | infinity}` or
/// `read_all`; `dirty` asks the wrapper to call `read_dirty_nif/2`.
#[rustler::nif]
fn read_nif<'a>(env: Env<'a>, buf_term: Term<'a>, request: Term<'a>) -> NifResult<Term<'a>> {
    let buf: &Buffer = buf_term.decode()?;
    Ok(read_with(env, buf, buf_term, parse(request)?, false))
}

/// `read_dirty_nif(Buf, Request)`: a large read, on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn read_dirty_nif<'a>(env: Env<'a>, buf_term: Term<'a>, request: Term<'a>) -> NifResult<Term<'a>> {
    let buf: &Buffer = buf_term.decode()?;
    Ok(read_with(env, buf, buf_term, parse(request)?, true))
}

/// `close_reader(Buf)`: the consumer is done. Writes fail with `reader_closed` from now on;
/// reads return what remains, then `eof`. Always `ok`.
#[rustler::nif]
fn close_reader<'a>(env: Env<'a>, buf_term: Term<'a>) -> NifResult<Atom> {
    let buf: &Buffer = buf_term.decode()?;
    notify::run(env, Some((buf.notifier(), buf_term)), || {
        buf.reader().close()
    });
    Ok(atoms::ok())
}
