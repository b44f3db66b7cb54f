//! `test_on_thread(Buf, Op)`: runs one buffer operation on a thread the BEAM does not manage,
//! as a Python reader or a Rust producer would, so the tests can check the messages sent from
//! such threads. Not part of the API.
//!
//! `Op` is `{write, Binary}`, `close`, `close_reader`, or `{read, N}` (non-blocking); the
//! result is `{ok, Count}` (bytes written or read) or `error`. `{wait_read, N}` starts a
//! thread blocked in `read(N)` (as a Python `read(n)` would) and returns `ok`; when the read
//! completes the thread sends the caller `{py_buffer_test, {ok, Binary} | {error, Reason}}`.

use rustler::{Atom, Binary, Encoder, Env, Error, NewBinary, NifResult, OwnedEnv, Term};

use crate::atoms;
use crate::buffer::errors;
use crate::buffer::BufferArc;

enum Op {
    Write(Vec<u8>),
    Close,
    CloseReader,
    Read(usize),
    WaitRead(usize),
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
    } else if tag == atoms::wait_read() {
        Ok(Op::WaitRead(arg.decode()?))
    } else {
        Err(Error::BadArg)
    }
}

#[rustler::nif]
fn test_on_thread<'a>(env: Env<'a>, buf: BufferArc, op: Term<'a>) -> NifResult<Term<'a>> {
    let op = parse(op)?;
    if let Op::WaitRead(n) = op {
        let pid = env.pid();
        std::thread::spawn(move || {
            let result = buf.reader().read(n).wait();
            let _ = OwnedEnv::new().send_and_clear(&pid, |env| {
                let result = match result {
                    Ok(bytes) => {
                        let mut out = NewBinary::new(env, bytes.len());
                        out.as_mut_slice().copy_from_slice(&bytes);
                        (atoms::ok(), Binary::from(out)).encode(env)
                    }
                    Err(e) => errors::error(env, &buf, &e),
                };
                (atoms::py_buffer_test(), result)
            });
        });
        return Ok(atoms::ok().encode(env));
    }
    let worker = std::thread::spawn(move || -> Result<usize, ()> {
        match op {
            Op::Write(data) => buf.writer().try_write(&data).map_err(drop),
            Op::Close => buf.writer().close().map(|()| 0).map_err(drop),
            Op::CloseReader => {
                buf.reader().close();
                Ok(0)
            }
            Op::Read(n) => buf.reader().read_nonblock(n).map(|b| b.len()).map_err(drop),
            Op::WaitRead(_) => Err(()),
        }
    });
    Ok(match worker.join() {
        Ok(Ok(n)) => (atoms::ok(), n).encode(env),
        _ => atoms::error().encode(env),
    })
}
