//! `test_on_thread(Buf, Op)`: runs one buffer operation on a thread the BEAM does not manage,
//! as a Python reader or a Rust producer would, so the tests can check the messages sent from
//! such threads. Not part of the API.
//!
//! `Op` is `{write, Binary}`, `close`, `close_reader`, or `{read, N}`; the result is the
//! number of bytes written or read, or `ok`/`error`.

use rustler::{Atom, Binary, Encoder, Env, Error, NifResult, ResourceArc, Term};

use crate::atoms;
use crate::buffer::Buffer;

enum Op {
    Write(Vec<u8>),
    Close,
    CloseReader,
    Read(usize),
}

fn parse(op: Term<'_>) -> NifResult<Op> {
    if let Ok(atom) = op.decode::<Atom>() {
        return if atom == atoms::close() || atom == atoms::close_reader() {
            Ok(if atom == atoms::close() {
                Op::Close
            } else {
                Op::CloseReader
            })
        } else {
            Err(Error::BadArg)
        };
    }
    let (tag, arg): (Atom, Term) = op.decode()?;
    if tag == atoms::write() {
        Ok(Op::Write(arg.decode::<Binary>()?.as_slice().to_vec()))
    } else if tag == atoms::read() {
        Ok(Op::Read(arg.decode()?))
    } else {
        Err(Error::BadArg)
    }
}

#[rustler::nif]
fn test_on_thread<'a>(
    env: Env<'a>,
    buf: ResourceArc<Buffer>,
    op: Term<'a>,
) -> NifResult<Term<'a>> {
    let op = parse(op)?;
    let worker = std::thread::spawn(move || -> Result<usize, ()> {
        match op {
            Op::Write(data) => buf.writer.try_write(&data).map_err(drop),
            Op::Close => buf.writer.close().map(|()| 0).map_err(drop),
            Op::CloseReader => {
                buf.reader.close();
                Ok(0)
            }
            Op::Read(n) => buf.reader.read_nonblock(n).map(|b| b.len()).map_err(drop),
        }
    });
    Ok(match worker.join() {
        Ok(Ok(n)) => (atoms::ok(), n).encode(env),
        _ => atoms::error().encode(env),
    })
}
