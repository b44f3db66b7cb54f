//! One request from Erlang (call, eval or exec) and how a worker runs it and replies.
//!
//! The arguments were copied into the job's own environment by the NIF; the worker converts
//! them to Python, runs the code, converts the result into the same environment and sends
//! `{py_result, Ref, Result}` to the caller with `enif_send` from its own (non-ERTS) thread.
//!
//! Calls go through a small Python function ([`trampoline`]) so the callee runs below a
//! Python frame: `builtins.eval`/`exec`/`globals()` called without globals then see that
//! frame's namespace instead of failing with `SystemError: frame does not exist`.
//! A module is taken from `sys.modules` only when it is fully initialised; otherwise it is
//! imported through the import system, which waits on the module's import lock (two first
//! calls racing an import both get the complete module).

use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};
use rustler::env::SavedTerm;
use rustler::{Encoder, Env, LocalPid, OwnedEnv, ResourceArc, Term};

use crate::atoms;
use crate::py::from_python::from_python;
use crate::py::interrupt;
use crate::py::python_error::error_term;
use crate::py::python_face;
use crate::py::ticket::Ticket;
use crate::py::to_python::{to_python, to_python_dict};

/// What to run.
pub enum Work {
    /// `Module.Function(*Args, **Kwargs)`; `Function` may be a dotted path (`Class.method`).
    Call {
        /// Module name, imported on first use (`sys.modules` is looked up first).
        module: String,
        /// Attribute path inside the module.
        function: String,
        /// A list term.
        args: SavedTerm,
        /// A map term with string keys, or `None`.
        kwargs: Option<SavedTerm>,
    },
    /// `eval(Code, ContextNamespace, Locals)`.
    Eval {
        /// A Python expression.
        code: String,
        /// A map term of local variables, or `None`.
        locals: Option<SavedTerm>,
    },
    /// `exec(Code, ContextNamespace)`.
    Exec {
        /// Python statements.
        code: String,
    },
}

/// Whether a job's thread may get `TimeoutError` raised in it when its caller gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupts {
    /// A pool worker or context thread: yes ([`crate::py::interrupt`]).
    OnTimeout,
    /// A thread of the app's own (an `erlang.Inbox`'s owner): never.
    Never,
}

/// A queued request.
pub struct Job {
    /// Holds every term of this job; the reply is built and sent from it.
    pub env: OwnedEnv,
    /// The caller.
    pub reply_to: LocalPid,
    /// The reference the caller waits for.
    pub reference: SavedTerm,
    /// What to run.
    pub work: Work,
    /// Lets the caller give up.
    pub ticket: ResourceArc<Ticket>,
}

fn source(code: &str) -> PyResult<CString> {
    CString::new(code).map_err(|_| PyValueError::new_err("source code contains a NUL byte"))
}

/// `sys.modules`, looked up once per interpreter.
fn sys_modules(py: Python<'_>) -> PyResult<&Bound<'_, PyDict>> {
    static MODULES: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
    MODULES
        .get_or_try_init(py, || {
            py.import("sys")?
                .getattr("modules")?
                .cast_into::<PyDict>()
                .map(Bound::unbind)
                .map_err(Into::into)
        })
        .map(|m| m.bind(py))
}

/// True when `module` is still executing its body (`__spec__._initializing`).
fn initializing(module: &Bound<'_, PyAny>) -> bool {
    module
        .getattr("__spec__")
        .and_then(|spec| spec.getattr("_initializing"))
        .and_then(|flag| flag.is_truthy())
        .unwrap_or(false)
}

/// `module.function`, through `sys.modules` first (no import machinery on the hot path)
/// unless the module there is still being imported.
fn resolve<'py>(py: Python<'py>, module: &str, function: &str) -> PyResult<Bound<'py, PyAny>> {
    let mut target = match sys_modules(py)?.get_item(module)? {
        Some(loaded) if !initializing(&loaded) => loaded,
        // `__import__` takes the module's import lock: it waits for another thread's
        // import of the same module to finish.
        _ => py.import(module)?.into_any(),
    };
    for name in function.split('.') {
        target = target.getattr(name)?;
    }
    Ok(target)
}

/// `lambda f, a, k: f(*a, **k)` defined in a namespace of its own (`__name__` is
/// `__py_call__`): the frame every call runs below.
fn trampoline(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static TRAMPOLINE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    TRAMPOLINE
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            let globals = PyDict::new(py);
            globals.set_item("__builtins__", py.import("builtins")?)?;
            globals.set_item("__name__", "__py_call__")?;
            let code = source("def __py_call__(__f, __a, __k):\n    return __f(*__a, **__k)\n")?;
            py.run(&code, Some(&globals), None)?;
            Ok(globals
                .get_item("__py_call__")?
                .ok_or_else(|| PyValueError::new_err("trampoline not defined"))?
                .unbind())
        })
        .map(|f| f.bind(py))
}

/// The result term, or `{error, result_too_large}`.
fn converted<'a>(env: Env<'a>, result: &Bound<'_, PyAny>) -> Term<'a> {
    match from_python(env, result) {
        Ok(term) => (atoms::ok(), term).encode(env),
        Err(_) => (atoms::error(), atoms::result_too_large()).encode(env),
    }
}

impl Work {
    fn execute<'a>(
        &self,
        py: Python<'_>,
        env: Env<'a>,
        namespace: &Bound<'_, PyDict>,
    ) -> PyResult<Term<'a>> {
        match self {
            Work::Call {
                module,
                function,
                args,
                kwargs,
            } => {
                let target = resolve(py, module, function)?;
                let args = args.load(env);
                let mut items = Vec::with_capacity(args.list_length().unwrap_or(0));
                for item in args
                    .into_list_iterator()
                    .map_err(|_| PyValueError::new_err("args must be a list"))?
                {
                    items.push(to_python(py, item, 0)?);
                }
                let args = PyTuple::new(py, items)?;
                let kwargs = match kwargs {
                    Some(kwargs) => Some(to_python_dict(py, kwargs.load(env), 0)?),
                    None => None,
                };
                let kwargs = match kwargs {
                    Some(kwargs) => kwargs,
                    None => PyDict::new(py),
                };
                let result = trampoline(py)?.call1((target, args, kwargs))?;
                Ok(converted(env, &result))
            }
            Work::Eval { code, locals } => {
                let locals = match locals {
                    Some(locals) => Some(to_python_dict(py, locals.load(env), 0)?),
                    None => None,
                };
                let result = py.eval(&source(code)?, Some(namespace), locals.as_ref())?;
                Ok(converted(env, &result))
            }
            Work::Exec { code } => {
                py.run(&source(code)?, Some(namespace), None)?;
                Ok(atoms::ok().encode(env))
            }
        }
    }
}

impl Job {
    /// Runs the job on the current thread and replies, unless the caller gave up.
    pub fn run(self, py: Python<'_>, namespace: &Bound<'_, PyDict>, interrupts: Interrupts) {
        let Job {
            mut env,
            reply_to,
            reference,
            work,
            ticket,
        } = self;
        let started = match interrupts {
            Interrupts::OnTimeout => ticket.start(interrupt::current_thread()),
            Interrupts::Never => ticket.start_uninterruptible(),
        };
        if !started {
            return;
        }
        let message = env.run(|term_env| {
            let result = catch_unwind(AssertUnwindSafe(|| {
                work.execute(py, term_env, namespace)
                    .unwrap_or_else(|err| error_term(py, term_env, err))
            }))
            .unwrap_or_else(|_| {
                (
                    atoms::error(),
                    (atoms::nif_panic(), "a bug in the py_buffer NIF"),
                )
                    .encode(term_env)
            });
            env.save((atoms::py_result(), reference.load(term_env), result))
        });
        reply(&mut env, &reply_to, &ticket, |term_env| {
            message.load(term_env)
        });
        // Still holding the GIL: the interrupter sees the job end atomically.
        ticket.finish();
        if interrupts == Interrupts::OnTimeout {
            interrupt::clear_pending(py);
        }
        // The job's Python objects are gone: forget what no longer crosses, and drop what
        // Erlang let go of meanwhile (the GIL is held anyway).
        python_face::sweep(py);
        crate::py::release::drain(py);
    }

    /// Answers the job `{error, Reason}` without running it (it could not be queued after
    /// all). Call from a thread ERTS does not manage.
    pub fn refuse(self, reason: rustler::Atom) {
        let Job {
            mut env,
            reply_to,
            reference,
            ticket,
            ..
        } = self;
        reply(&mut env, &reply_to, &ticket, |term_env| {
            (
                atoms::py_result(),
                reference.load(term_env),
                (atoms::error(), reason),
            )
                .encode(term_env)
        });
    }
}

/// Sends a job's `{py_result, Ref, Result}` to its caller, under its ticket's reply lock.
fn reply(
    env: &mut OwnedEnv,
    reply_to: &LocalPid,
    ticket: &Ticket,
    message: impl for<'e> FnOnce(Env<'e>) -> Term<'e>,
) {
    ticket.reply(|| {
        // A dead caller is not an error: nobody is waiting.
        let _ = env.send_and_clear(reply_to, message);
    });
}
