//! The NIFs behind `py:call/3,4,5`, `py:eval/2,3` and `py:exec/2`: validate, copy the
//! arguments into a job, queue it, and return a ticket at once. The reply arrives later as
//! `{py_result, Ref, Result}` from a worker thread. Never takes the GIL.
//!
//! The caller makes `Ref` itself (`make_ref()` right before the NIF call and the `receive`),
//! so the compiler's selective-receive optimisation skips the rest of a long mailbox.
//!
//! Reading the names and code and copying the arguments are the costs proportional to their
//! size. The normal-scheduler NIFs first count the terms' nodes up to [`SMALL_TERM_NODES`]
//! (bounded work; a binary counts one node per [`BINARY_BYTES_PER_NODE`] bytes: a name or
//! source is checked for UTF-8 and copied into a `String`); larger terms are not read there:
//! the NIF returns `dirty` and `py.erl` calls the `*_dirty` variant, which runs on a dirty
//! CPU scheduler.

use std::sync::Arc;

use rustler::{Atom, Binary, Encoder, Env, NifResult, OwnedEnv, ResourceArc, Term, TermType};

use crate::atoms;
use crate::py::finalize::{self, Outcome};
use crate::py::inbox;
use crate::py::interpreter;
use crate::py::interrupt;
use crate::py::job::{Job, Work};
use crate::py::lists::charlist;
use crate::py::ticket::Ticket;
use crate::py::workers;

/// Terms with more nodes than this are copied on a dirty scheduler (a copy of this many
/// nodes takes well under a millisecond).
pub const SMALL_TERM_NODES: usize = 20_000;

/// A binary counts one node per this many bytes (so at most about 1.3 MB of binaries go on
/// a normal scheduler: checking and copying that takes a few hundred microseconds).
pub const BINARY_BYTES_PER_NODE: usize = 64;

/// A tuple's arity, read without copying its elements.
fn tuple_arity(term: Term<'_>) -> Option<usize> {
    let mut arity: std::ffi::c_int = 0;
    let mut array = std::ptr::null();
    // SAFETY: `term` is a valid term of its env; enif_get_tuple only writes the two
    // out-parameters (and leaves them alone for a non-tuple).
    let is_tuple = unsafe {
        rustler::sys::enif_get_tuple(
            term.get_env().as_c_arg(),
            term.as_c_arg(),
            &mut arity,
            &mut array,
        )
    };
    (is_tuple == 1).then(|| usize::try_from(arity).unwrap_or(usize::MAX))
}

/// True when every term of `terms` together has at most [`SMALL_TERM_NODES`] nodes.
/// Stops counting there, so it costs at most that many steps.
fn small(terms: &[Term<'_>]) -> bool {
    let mut budget = SMALL_TERM_NODES;
    let mut stack: Vec<Term<'_>> = terms.to_vec();
    while let Some(term) = stack.pop() {
        let cost = match term.get_type() {
            TermType::Binary => {
                Binary::from_term(term).map_or(1, |binary| 1 + binary.len() / BINARY_BYTES_PER_NODE)
            }
            _ => 1,
        };
        budget = match budget.checked_sub(cost) {
            Some(left) => left,
            None => return false,
        };
        match term.get_type() {
            TermType::List => {
                if let Ok((head, tail)) = term.list_get_cell() {
                    stack.push(head);
                    stack.push(tail);
                }
            }
            TermType::Tuple => {
                // Check the arity first: copying a huge tuple's elements is itself O(n).
                if tuple_arity(term).is_none_or(|arity| arity > budget) {
                    return false;
                }
                match rustler::types::tuple::get_tuple(term) {
                    Ok(elements) => stack.extend(elements),
                    Err(_) => return false,
                }
            }
            TermType::Map if term.map_size().map_or(true, |size| size > budget) => {
                return false;
            }
            TermType::Map => match rustler::MapIterator::new(term) {
                Some(iter) => {
                    for (key, value) in iter {
                        if stack.len() > SMALL_TERM_NODES {
                            return false;
                        }
                        stack.push(key);
                        stack.push(value);
                    }
                }
                None => return false,
            },
            _ => {}
        }
        if stack.len() > budget {
            return false;
        }
    }
    true
}

/// Python source: iodata (UTF-8) or a charlist, like a name but never an atom (`py:exec(Ctx,
/// ok)` ran the code `ok`, against the spec's `iodata()`; found by `prop_py_terms`).
fn source(term: Term<'_>) -> NifResult<String> {
    if term.get_type() == TermType::Atom {
        return Err(rustler::Error::BadArg);
    }
    name(term)
}

/// A module or function name: atom, iodata (UTF-8) or charlist.
fn name(term: Term<'_>) -> NifResult<String> {
    if term.get_type() == TermType::Atom {
        return term.atom_to_string();
    }
    if let Ok(bytes) = Binary::from_iolist(term) {
        return String::from_utf8(bytes.as_slice().to_vec()).map_err(|_| rustler::Error::BadArg);
    }
    charlist(term).ok_or(rustler::Error::BadArg)
}

/// The first element of the list `args` when it is a UTF-8 binary (what an inbox's key is
/// compared with).
fn first_string(args: Term<'_>) -> Option<String> {
    let (head, _) = args.list_get_cell().ok()?;
    let binary = Binary::from_term(head).ok()?;
    std::str::from_utf8(binary.as_slice())
        .ok()
        .map(str::to_owned)
}

fn is_map(term: Term<'_>) -> bool {
    term.get_type() == TermType::Map
}

/// Queues a job built by `work` in a fresh environment (on `inbox` if given, else on
/// `context`'s queue); returns its ticket.
fn submit<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    inbox: Option<Arc<inbox::Core>>,
    work: impl FnOnce(&OwnedEnv) -> Work,
) -> Term<'a> {
    if let Err(reason) = interpreter::state() {
        return (atoms::error(), (atoms::python_init(), reason)).encode(env);
    }
    let owned = OwnedEnv::new();
    let ticket = Ticket::new(workers::stuck_counter(context));
    let job = Job {
        work: work(&owned),
        reference: owned.save(reference),
        reply_to: env.pid(),
        ticket: ResourceArc::clone(&ticket),
        env: owned,
    };
    let queued = match &inbox {
        Some(inbox) => inbox::submit(inbox, job),
        None => workers::submit(context, job),
    };
    match queued {
        Ok(()) => ticket.encode(env),
        Err(reason) => (atoms::error(), reason.atom()).encode(env),
    }
}

#[allow(clippy::too_many_arguments)]
fn call<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    module: Term<'a>,
    function: Term<'a>,
    arguments: Term<'a>,
    kwargs: Term<'a>,
    dirty: bool,
) -> NifResult<Term<'a>> {
    if arguments.list_length().is_err() || !is_map(kwargs) {
        return Err(rustler::Error::BadArg);
    }
    if !dirty && !small(&[module, function, arguments, kwargs]) {
        return Ok(atoms::dirty().encode(env));
    }
    let module = name(module)?;
    let function = name(function)?;
    let has_kwargs = kwargs.map_size()? > 0;
    // A context-free call an `erlang.Inbox` claims runs on that inbox's thread.
    let inbox = if context == 0 {
        inbox::claimant(&module, &function, || first_string(arguments))
    } else {
        None
    };
    Ok(submit(env, reference, context, inbox, |owned| Work::Call {
        module,
        function,
        args: owned.save(arguments),
        kwargs: has_kwargs.then(|| owned.save(kwargs)),
    }))
}

fn eval<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    code: Term<'a>,
    locals: Term<'a>,
    dirty: bool,
) -> NifResult<Term<'a>> {
    if !is_map(locals) {
        return Err(rustler::Error::BadArg);
    }
    if !dirty && !small(&[code, locals]) {
        return Ok(atoms::dirty().encode(env));
    }
    let code = source(code)?;
    let has_locals = locals.map_size()? > 0;
    Ok(submit(env, reference, context, None, |owned| Work::Eval {
        code,
        locals: has_locals.then(|| owned.save(locals)),
    }))
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
    call(
        env, reference, context, module, function, arguments, kwargs, false,
    )
}

/// `py_call/6` for arguments too large to copy on a normal scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn py_call_dirty<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    module: Term<'a>,
    function: Term<'a>,
    arguments: Term<'a>,
    kwargs: Term<'a>,
) -> NifResult<Term<'a>> {
    call(
        env, reference, context, module, function, arguments, kwargs, true,
    )
}

#[rustler::nif]
fn py_eval<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    code: Term<'a>,
    locals: Term<'a>,
) -> NifResult<Term<'a>> {
    eval(env, reference, context, code, locals, false)
}

/// `py_eval/4` for locals too large to copy on a normal scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn py_eval_dirty<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    code: Term<'a>,
    locals: Term<'a>,
) -> NifResult<Term<'a>> {
    eval(env, reference, context, code, locals, true)
}

fn exec<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    code: Term<'a>,
    dirty: bool,
) -> NifResult<Term<'a>> {
    if !dirty && !small(&[code]) {
        return Ok(atoms::dirty().encode(env));
    }
    let code = source(code)?;
    Ok(submit(env, reference, context, None, |_| Work::Exec {
        code,
    }))
}

#[rustler::nif]
fn py_exec<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    code: Term<'a>,
) -> NifResult<Term<'a>> {
    exec(env, reference, context, code, false)
}

/// `py_exec/3` for code too large to read on a normal scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn py_exec_dirty<'a>(
    env: Env<'a>,
    reference: Term<'a>,
    context: usize,
    code: Term<'a>,
) -> NifResult<Term<'a>> {
    exec(env, reference, context, code, true)
}

/// Gives up on a call; a job already running gets `TimeoutError` raised in its thread.
#[rustler::nif]
fn py_cancel(ticket: ResourceArc<Ticket>) -> Atom {
    let (answer, running) = ticket.cancel();
    if running {
        interrupt::request(ticket);
    }
    answer
}

/// Stops the interpreter (`py:stop/0`): `ok`, `{error, {busy, N}}` or
/// `{error, not_started}`. Waits for the workers: a dirty I/O scheduler.
#[rustler::nif(schedule = "DirtyIo")]
fn py_finalize(env: Env<'_>) -> Term<'_> {
    match finalize::stop() {
        Outcome::Finalized => atoms::ok().encode(env),
        Outcome::Busy(n) => (atoms::error(), (atoms::busy(), n)).encode(env),
        Outcome::NotStarted => (atoms::error(), atoms::not_started()).encode(env),
    }
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
    put(atoms::stuck(), workers::stuck().encode(env));
    put(atoms::stopped(), finalize::is_stopping().encode(env));
    info
}
