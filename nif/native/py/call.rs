//! The NIFs behind `py:call/3,4,5`, `py:eval/2,3` and `py:exec/2`: validate, copy the
//! arguments into a job, queue it, and return a ticket at once. The reply arrives later as
//! `{py_result, Ref, Result}` from a worker thread. Never takes the GIL.
//!
//! The caller makes `Ref` itself (`make_ref()` right before the NIF call and the `receive`),
//! so the compiler's selective-receive optimisation skips the rest of a long mailbox.

use rustler::{Atom, Binary, Encoder, Env, NifResult, OwnedEnv, ResourceArc, Term, TermType};

use crate::atoms;
use crate::py::interpreter;
use crate::py::job::{Job, Work};
use crate::py::ticket::Ticket;
use crate::py::workers;

/// A module, function or code argument: atom, iodata (UTF-8) or charlist.
fn name(term: Term<'_>) -> NifResult<String> {
    if term.get_type() == TermType::Atom {
        return term.atom_to_string();
    }
    if let Ok(bytes) = Binary::from_iolist(term) {
        return String::from_utf8(bytes.as_slice().to_vec()).map_err(|_| rustler::Error::BadArg);
    }
    let chars: Vec<u32> = term.decode()?;
    chars
        .into_iter()
        .map(char::from_u32)
        .collect::<Option<String>>()
        .ok_or(rustler::Error::BadArg)
}

fn is_map(term: Term<'_>) -> bool {
    term.get_type() == TermType::Map
}

/// Queues a job built by `work` in a fresh environment; returns its ticket.
fn submit<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    work: impl FnOnce(&OwnedEnv) -> Work,
) -> Term<'a> {
    if let Err(reason) = interpreter::state() {
        return (atoms::error(), (atoms::python_init(), reason)).encode(env);
    }
    let owned = OwnedEnv::new();
    let ticket = Ticket::new();
    let job = Job {
        work: work(&owned),
        reference: owned.save(reference),
        reply_to: env.pid(),
        ticket: ResourceArc::clone(&ticket),
        env: owned,
    };
    match workers::submit(context, job) {
        Ok(()) => ticket.encode(env),
        Err(_) => (atoms::error(), atoms::not_started()).encode(env),
    }
}

#[rustler::nif]
fn py_call<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    module: Term<'a>,
    function: Term<'a>,
    arguments: Term<'a>,
    kwargs: Term<'a>,
) -> NifResult<Term<'a>> {
    let module = name(module)?;
    let function = name(function)?;
    if arguments.list_length().is_err() || !is_map(kwargs) {
        return Err(rustler::Error::BadArg);
    }
    let has_kwargs = kwargs.map_size()? > 0;
    Ok(submit(env, reference, context, |owned| Work::Call {
        module,
        function,
        args: owned.save(arguments),
        kwargs: has_kwargs.then(|| owned.save(kwargs)),
    }))
}

#[rustler::nif]
fn py_eval<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    code: Term<'a>,
    locals: Term<'a>,
) -> NifResult<Term<'a>> {
    let code = name(code)?;
    if !is_map(locals) {
        return Err(rustler::Error::BadArg);
    }
    let has_locals = locals.map_size()? > 0;
    Ok(submit(env, reference, context, |owned| Work::Eval {
        code,
        locals: has_locals.then(|| owned.save(locals)),
    }))
}

#[rustler::nif]
fn py_exec<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    code: Term<'a>,
) -> NifResult<Term<'a>> {
    let code = name(code)?;
    Ok(submit(env, reference, context, |_| Work::Exec { code }))
}

#[rustler::nif]
fn py_cancel(ticket: ResourceArc<Ticket>) -> Atom {
    ticket.cancel()
}

#[rustler::nif]
fn py_info(env: Env<'_>) -> Term<'_> {
    let mut info = Term::map_new(env);
    let mut put = |key: Atom, value: Term<'_>| {
        if let Ok(next) = info.map_put(key, value) {
            info = next;
        }
    };
    match interpreter::state() {
        Ok(started) => {
            put(atoms::python(), started.executable.encode(env));
            put(atoms::prefix(), started.prefix.encode(env));
            put(atoms::version(), started.version.encode(env));
            put(atoms::libpython(), started.libpython.encode(env));
        }
        Err(reason) => put(atoms::error(), reason.encode(env)),
    }
    if let Some((contexts, workers, idle)) = workers::info() {
        put(atoms::contexts(), contexts.encode(env));
        put(atoms::workers(), (workers, idle).encode(env));
    }
    info
}
