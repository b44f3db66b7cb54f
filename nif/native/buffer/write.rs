//! The writer side: `write/2`, `close/1`, `abort/2`.
//!
//! `write/2` (the Erlang wrapper flattens iolists with `iolist_to_binary/1`, which yields)
//! appends one binary atomically. How the bytes get in, chosen by measurement
//! (`docs/decisions.md`, "Erlang NIF"):
//! - below [`KEEP_MIN`] bytes: copied into the buffer's current block (a few hundred ns);
//! - larger, unbounded buffer: the refc binary itself becomes a block ([`crate::buffer::kept`]), O(1)
//!   whatever the size, so no normal scheduler is ever blocked by a copy;
//! - larger, bounded buffer (whose blocks are recycled, so it copies): copied on the normal
//!   scheduler up to [`DIRTY_MIN`] bytes, on a dirty CPU scheduler above.
//!
//! Results: `ok`; `{partial, Rest}` in bounded mode when only part fitted (wait for
//! `writable`, then write `Rest`); `{error, Reason}` (see [`crate::buffer::errors`]).

use rustler::{Binary, Encoder, Env, NifResult, Term};

use crate::atoms;
use crate::buffer::errors;
use crate::buffer::notify;
use crate::buffer::owner;
use crate::buffer::resource_type;
use crate::buffer::stored_reason::StoredReason;
use crate::buffer::timeslice;
use crate::buffer::Buffer;

/// Binaries at least this long are kept rather than copied (in unbounded buffers).
const KEEP_MIN: usize = py_buffer_core::KEEP_WITHOUT_COPY_MIN;
/// Copies longer than this run on a dirty scheduler.
const DIRTY_MIN: usize = timeslice::NORMAL_COPY_MAX;

/// The estimated cost of a write apart from copying (call, lock, keeping a binary).
const WRITE_NS: u32 = 300;
/// The estimated cost of the common small write ([`write_small`]) apart from copying: 64-byte
/// writes take 70–110 ns a call on this VM, page faults included (docs/benchmarks.md, "Small
/// writes"). With [`timeslice::CALL_REDUCTION_NS`] it makes writes of up to ~120 bytes cost
/// no more than the one reduction the BEAM counts for the call.
const SMALL_WRITE_NS: u32 = 100;

/// How one write puts its bytes in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Copy,
    Keep,
    /// Tell the Erlang wrapper to retry on a dirty scheduler.
    Dirty,
}

fn choose(buf: &Buffer, len: usize) -> Mode {
    if len < KEEP_MIN {
        Mode::Copy
    } else if !buf.is_bounded() {
        Mode::Keep
    } else if len <= DIRTY_MIN {
        Mode::Copy
    } else {
        Mode::Dirty
    }
}

#[inline(always)]
fn write_with<'a>(
    env: Env<'a>,
    buf: &Buffer,
    buf_term: Term<'a>,
    (data, binary): (Term<'a>, Binary<'a>),
    mode: Mode,
    on_dirty: bool,
) -> NifResult<Term<'a>> {
    let len = binary.len();
    let append = || match mode {
        Mode::Keep => match buf.keeper().keep(data) {
            Some(mut bytes) => {
                let result = buf.writer().try_write_bytes(&mut bytes);
                if let Ok(n) = result {
                    buf.count_kept(n);
                }
                result
            }
            None => buf.writer().try_write(binary.as_slice()),
        },
        _ => buf.writer().try_write(binary.as_slice()),
    };
    // A write raises only `readable` and `eof`; when neither is armed (nobody subscribed, or
    // both already sent) no message can follow, and the edge capture is skipped. An
    // `activate` racing this check is still told: the core asks the subscription under its
    // lock, and an edge that finds no capture is sent from another thread.
    let result = if buf.notifier().may_tell_of_write() {
        notify::run(env, Some((buf.notifier(), buf_term)), append)
    } else {
        append()
    };
    if !on_dirty {
        let copied = if mode == Mode::Copy { len } else { 0 };
        timeslice::charge(env, timeslice::cost(WRITE_NS, copied));
    }
    Ok(match result {
        Ok(n) if n == len => atoms::ok().encode(env),
        Ok(n) => (atoms::partial(), binary.make_subbinary(n, len - n)?).encode(env),
        Err(e) => errors::error(env, buf, &e),
    })
}

/// `write_nif(Buf, Binary)`: the `write/2` fast path; returns `dirty` when the write must be
/// redone on a dirty scheduler (`write_dirty_nif/2`).
///
/// Registered by hand ([`raw_write_nif`]) rather than with `#[rustler::nif]`: rustler's
/// generated wrapper collects the arguments into a fresh `Vec` on every call, a `malloc` and a
/// `free` that were a tenth of a 64-byte write (`docs/decisions.md`, "Erlang NIF"). It
/// returns the raw term (`badarg` made here): a `NifResult<Term>` is a three-word value whose
/// moves between the layers stalled on partial stack stores (perf). Not inlined into the entry
/// point: its large frame (and saved registers) would be set up for every small write too. It
/// takes raw words (in registers) and builds rustler's `Env` and `Term`s itself: passed in,
/// they went through the stack, and re-reading the `Env`'s one-byte field as a word stalled.
///
/// # Safety
/// `nif_env` is the env of the current NIF call and `buf_raw`, `data_raw` are terms of it.
#[inline(never)]
unsafe fn write_raw(
    nif_env: *mut rustler::sys::ErlNifEnv,
    buf_raw: rustler::sys::ErlNifTerm,
    data_raw: rustler::sys::ErlNifTerm,
) -> rustler::sys::ErlNifTerm {
    let lifetime = ();
    // SAFETY: the caller's contract: `nif_env` is valid for this call, which `lifetime` (a
    // local) bounds.
    let env = unsafe { Env::new(&lifetime, nif_env) };
    // SAFETY: the caller's contract: both are terms of `env`.
    let (buf_term, data) = unsafe { (Term::new(env, buf_raw), Term::new(env, data_raw)) };
    let (Ok(buf), Ok(binary)) = (buf_term.decode::<&Buffer>(), Binary::from_term(data)) else {
        // SAFETY: `env` is the env of this NIF call.
        return unsafe { rustler::sys::enif_make_badarg(env.as_c_arg()) };
    };
    match choose(buf, binary.len()) {
        Mode::Dirty => atoms::dirty().as_c_arg(),
        mode => match write_with(env, buf, buf_term, (data, binary), mode, false) {
            Ok(term) => term.as_c_arg(),
            // SAFETY: as above (the only error is `BadArg`, as rustler would raise it).
            Err(_) => unsafe { rustler::sys::enif_make_badarg(env.as_c_arg()) },
        },
    }
}

/// The common write, on raw terms: a small binary (copied) into a buffer whose subscriber (if any) waits for neither `readable` nor `eof`, accepted whole.
/// `None` (nothing written) sends every other case to [`write_raw`]. rustler's `Env` and
/// `Term` are not built on this path: each copy of a freshly built `Env` re-read its one-byte
/// field as a word, a store-forwarding stall (perf: a tenth of the call).
///
/// # Safety
/// `nif_env` is the env of the current NIF call and `buf`, `data` are terms of it.
#[inline(always)]
unsafe fn write_small(
    nif_env: *mut rustler::sys::ErlNifEnv,
    buf: rustler::sys::ErlNifTerm,
    data: rustler::sys::ErlNifTerm,
) -> Option<rustler::sys::ErlNifTerm> {
    // SAFETY: the caller's contract.
    let buf = unsafe { resource_type::get(nif_env, buf) }?;
    let mut binary = std::mem::MaybeUninit::<rustler::sys::ErlNifBinary>::uninit();
    // SAFETY: as above; ERTS fills `binary` when it returns non-zero.
    if unsafe { rustler::sys::enif_inspect_binary(nif_env, data, binary.as_mut_ptr()) } == 0 {
        return None;
    }
    // SAFETY: initialised by the successful call above.
    let binary = unsafe { binary.assume_init() };
    let len = binary.size;
    if len >= KEEP_MIN || buf.notifier().may_tell_of_write() {
        return None;
    }
    let bytes = if len == 0 {
        &[][..]
    } else {
        // SAFETY: ERTS describes the binary's `size` bytes at `data`, alive while `data` is
        // (this call).
        unsafe { std::slice::from_raw_parts(binary.data, len) }
    };
    // Only unbounded buffers: there a write is whole or fails, writing nothing (failures are
    // final), so a failure is redone by the general path, which makes the error term; a
    // bounded buffer may take part of a write, which needs `{partial, Rest}`.
    if buf.is_bounded() {
        return None;
    }
    let written = buf.writer().try_write_quiet(bytes)?;
    debug_assert_eq!(written, len, "unbounded writes are whole");
    timeslice::charge_raw(
        nif_env,
        buf.write_debt(),
        timeslice::cost(SMALL_WRITE_NS, len),
    );
    Some(atoms::ok().as_c_arg())
}

/// The C entry point of `write_nif/2`: what `#[rustler::nif]` generates, minus the argument
/// `Vec` and the generic handling of the result. Panics are caught and errors mapped
/// exactly as rustler does (`handle_nif_result`).
unsafe extern "C" fn raw_write_nif(
    nif_env: *mut rustler::sys::ErlNifEnv,
    argc: std::ffi::c_int,
    argv: *const rustler::sys::ErlNifTerm,
) -> rustler::sys::ErlNifTerm {
    py_buffer_core::wake_trace::mark(py_buffer_core::wake_trace::Point::WriteEntered);
    let lifetime = ();
    // SAFETY: the BEAM calls this function as a NIF: `nif_env` is the calling process's env,
    // valid for this call, which `lifetime` (a local) bounds.
    let env = unsafe { Env::new(&lifetime, nif_env) };
    if argc != 2 || argv.is_null() {
        // Never happens: registered with arity 2.
        // SAFETY: `nif_env` is the env of this NIF call.
        return unsafe { rustler::sys::enif_make_badarg(nif_env) };
    }
    // SAFETY: the BEAM passes `argc` (2, checked above) valid terms of `env` at `argv`.
    let (buf_raw, data_raw) = unsafe { (*argv, *argv.add(1)) };
    let write = move || {
        // SAFETY: as above.
        match unsafe { write_small(nif_env, buf_raw, data_raw) } {
            Some(term) => term,
            // SAFETY: as above.
            None => unsafe { write_raw(nif_env, buf_raw, data_raw) },
        }
    };
    match std::panic::catch_unwind(write) {
        Ok(term) => term,
        // SAFETY: `env` is the env of this NIF call (what the generated wrapper passes too).
        Err(panic) => unsafe {
            rustler::codegen_runtime::handle_nif_result::<Term>(Err(panic), env).apply(env)
        },
    }
}

rustler::codegen_runtime::inventory::submit!(rustler::Nif {
    name: c"write_nif".as_ptr(),
    arity: 2,
    flags: rustler::SchedulerFlags::Normal as std::ffi::c_uint,
    raw_func: raw_write_nif,
});

/// `write_dirty_nif(Buf, Binary)`: a large copying write, on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn write_dirty_nif<'a>(env: Env<'a>, buf_term: Term<'a>, data: Term<'a>) -> NifResult<Term<'a>> {
    let buf: &Buffer = buf_term.decode()?;
    write_with(env, buf, buf_term, (data, data.decode()?), Mode::Copy, true)
}

/// `bench_write(Buf, Binary, copy | keep)`: a write forced to one mode, for the benchmark
/// that chose between them. Not part of the API: built with the `test-hooks` feature only.
#[cfg(feature = "test-hooks")]
#[rustler::nif]
fn bench_write<'a>(
    env: Env<'a>,
    buf_term: Term<'a>,
    data: Term<'a>,
    mode: rustler::Atom,
) -> NifResult<Term<'a>> {
    let buf: &Buffer = buf_term.decode()?;
    let mode = if mode == atoms::copy() {
        Mode::Copy
    } else if mode == atoms::keep() {
        Mode::Keep
    } else {
        return Err(rustler::Error::BadArg);
    };
    write_with(env, buf, buf_term, (data, data.decode()?), mode, false)
}

/// `close(Buf)`: a clean end of body. `ok` (also when already closed), or
/// `{error, {aborted, Reason}}` after an abort.
#[rustler::nif]
fn close<'a>(env: Env<'a>, buf_term: Term<'a>) -> NifResult<Term<'a>> {
    let buf: &Buffer = buf_term.decode()?;
    let result = notify::run(env, Some((buf.notifier(), buf_term)), || {
        buf.writer().close()
    });
    Ok(match result {
        Ok(()) => {
            owner::body_ended(buf);
            atoms::ok().encode(env)
        }
        Err(e) => errors::error(env, buf, &e),
    })
}

/// `abort(Buf, Reason)`: the body failed; readers get `{aborted, Reason}` (Python:
/// `BodyAborted`; a large `Reason` comes back cut, see [`StoredReason`]) once the bytes that arrived cannot satisfy them. `ok` (the first reason
/// wins), or `{error, closed}` after `close/1`.
#[rustler::nif]
fn abort<'a>(env: Env<'a>, buf_term: Term<'a>, why: Term<'a>) -> NifResult<Term<'a>> {
    let buf: &Buffer = buf_term.decode()?;
    let why = StoredReason::new(why);
    let result = notify::run(env, Some((buf.notifier(), buf_term)), || {
        errors::abort_with(buf, &why)
    });
    Ok(match result {
        Ok(()) => {
            owner::body_ended(buf);
            atoms::ok().encode(env)
        }
        Err(e) => errors::error(env, buf, &e),
    })
}
