//! The one embedded CPython of the VM: configured through `PyConfig`, started in the NIF's
//! load callback, then left with the GIL released for the worker threads.
//!
//! - `program_name` (and so `sys.executable`, `sys.prefix`, site-packages) is the configured
//!   python: a venv's `bin/python` gives the venv (found through its `pyvenv.cfg`);
//! - no signal handlers (the BEAM owns signals), no C stdio reconfiguration, no argv parsing;
//! - `SIGCHLD` back to `SIG_DFL` ([`restore_sigchld`]): the BEAM ignores it, and with it
//!   ignored the kernel reaps children itself, so `waitpid` in Python (`subprocess`,
//!   `os.system`) never sees an exit status. The BEAM's own port programs are children of
//!   its `erl_child_setup` helper, which reaps them, so they are unaffected;
//! - before Python starts, libpython is promoted to `RTLD_GLOBAL` ([`crate::py::libpython`]);
//! - `sys.path` starts with the configured directories, then (as with `python -c`) the VM's
//!   working directory unless `PYTHONSAFEPATH` is set;
//! - right after it starts, and before any user code runs, `py_buffer._native` and `erlang`
//!   are put in `sys.modules` ([`crate::py::erlang_module`]), so `import py_buffer` inside the VM
//!   uses the classes compiled into this library, whatever is installed in site-packages.

use std::ffi::CString;
use std::sync::OnceLock;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::py::config::Config;
use crate::py::erlang_module;
use crate::py::libpython;

/// The thread that initialised Python (`pthread_self`); it never runs Python again.
static INIT_THREAD: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The id of the thread that initialised Python (its `threading.get_ident()`), 0 before.
pub fn init_thread() -> i64 {
    INIT_THREAD.load(std::sync::atomic::Ordering::Relaxed)
}

/// How starting went: `Ok` with facts for `py_info`, or why it failed.
static STATE: OnceLock<Result<Started, String>> = OnceLock::new();

/// Facts about the running interpreter.
#[derive(Debug)]
pub struct Started {
    /// libpython's path.
    pub libpython: String,
    /// `sys.executable` as Python computed it.
    pub executable: String,
    /// `sys.prefix` (the venv when one is configured).
    pub prefix: String,
    /// `sys.version`.
    pub version: String,
}

/// The interpreter's state; `Err` when it could not be started.
pub fn state() -> Result<&'static Started, &'static str> {
    match STATE.get() {
        Some(Ok(started)) => Ok(started),
        Some(Err(reason)) => Err(reason),
        None => Err("not started"),
    }
}

/// The python next to libpython: `<prefix>/lib/libpython3.11.so.1.0` → `<prefix>/bin/python3.11`.
fn default_python(libpython: &str) -> Option<String> {
    let path = std::path::Path::new(libpython);
    let name = path.file_name()?.to_str()?;
    let version = name.strip_prefix("libpython")?.split(".so").next()?;
    let prefix = path.parent()?.parent()?;
    let python = prefix.join("bin").join(format!("python{version}"));
    python
        .exists()
        .then(|| python.to_string_lossy().into_owned())
}

fn check(status: ffi::PyStatus, what: &str) -> Result<(), String> {
    // SAFETY: PyStatus_Exception only reads the status value.
    if unsafe { ffi::PyStatus_Exception(status) } == 0 {
        return Ok(());
    }
    let message = if status.err_msg.is_null() {
        format!("exit code {}", status.exitcode)
    } else {
        // SAFETY: a non-NULL err_msg is a static NUL-terminated string set by CPython.
        unsafe { std::ffi::CStr::from_ptr(status.err_msg) }
            .to_string_lossy()
            .into_owned()
    };
    Err(format!("{what}: {message}"))
}

/// Initialises CPython from a `PyConfig`. Must run once, on one thread.
fn initialize(python: Option<&str>) -> Result<(), String> {
    let program =
        python.map(|p| CString::new(p).map_err(|_| "python path has a NUL byte".to_string()));
    let program = program.transpose()?;
    let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::uninit();
    // SAFETY: PyConfig_InitPythonConfig fully initialises the struct it is given.
    unsafe { ffi::PyConfig_InitPythonConfig(config.as_mut_ptr()) };
    // SAFETY: initialised just above.
    let mut config = unsafe { config.assume_init() };
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    config.configure_c_stdio = 0;
    // Unbuffered sys.stdout/stderr: `halt()` never flushes Python's buffers.
    config.buffered_stdio = 0;
    let config_ptr: *mut ffi::PyConfig = &mut config;
    let result = (|| {
        if let Some(program) = &program {
            // SAFETY: `config_ptr` points to the initialised `config`, and the field pointer
            // is derived from it; CPython copies the string.
            let status = unsafe {
                let field = std::ptr::addr_of_mut!((*config_ptr).program_name);
                ffi::PyConfig_SetBytesString(config_ptr, field, program.as_ptr())
            };
            check(status, "PyConfig program_name")?;
            let mut argv = [program.as_ptr()];
            // SAFETY: one valid C string; CPython copies it.
            let status =
                unsafe { ffi::PyConfig_SetBytesArgv(config_ptr, 1, argv.as_mut_ptr().cast()) };
            check(status, "PyConfig argv")?;
        }
        // SAFETY: `config` is initialised; Python is not initialised yet (the OnceLock in
        // `start` runs this once per process).
        let status = unsafe { ffi::Py_InitializeFromConfig(config_ptr) };
        check(status, "Py_InitializeFromConfig")
    })();
    // SAFETY: frees the strings CPython allocated inside `config`; it is not used again.
    unsafe { ffi::PyConfig_Clear(config_ptr) };
    result
}

fn describe(py: Python<'_>, libpython: String) -> PyResult<Started> {
    let sys = py.import("sys")?;
    Ok(Started {
        libpython,
        executable: sys.getattr("executable")?.extract()?,
        prefix: sys.getattr("prefix")?.extract()?,
        version: sys.getattr("version")?.extract()?,
    })
}

fn prepare(py: Python<'_>, config: &Config) -> PyResult<()> {
    erlang_module::register(py)?;
    let sys = py.import("sys")?;
    let path = sys.getattr("path")?.cast_into::<PyList>()?;
    // Like `python -c`: the VM's working directory is importable (after the configured
    // directories), unless PYTHONSAFEPATH is set.
    // `sys.flags.safe_path` exists from Python 3.11 on; before, there is no such mode.
    let safe_path: bool = match sys.getattr("flags")?.getattr("safe_path") {
        Ok(flag) => flag.extract()?,
        Err(_) => false,
    };
    if !safe_path {
        if let Some(cwd) = std::env::current_dir()
            .ok()
            .and_then(|d| d.to_str().map(String::from))
        {
            path.insert(0, cwd)?;
        }
    }
    for dir in config.python_path.iter().rev() {
        path.insert(0, dir)?;
    }
    Ok(())
}

/// Sets `SIGCHLD` to its default disposition if it is ignored (see the module doc).
fn restore_sigchld() {
    // SAFETY: a zeroed sigaction is a valid "query" argument; sigaction only reads/writes
    // the structs passed. Only an ignored SIGCHLD is changed (a handler installed by someone
    // else is left alone).
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
        {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut default.sa_mask);
            libc::sigaction(libc::SIGCHLD, &default, std::ptr::null_mut());
        }
    }
}

/// Starts the interpreter (once per VM) and releases the GIL.
pub fn start(config: &Config) -> Result<(), String> {
    let result = STATE.get_or_init(|| {
        let libpython = libpython::promote_to_global()?;
        // SAFETY: Py_IsInitialized may be called before initialisation.
        if unsafe { ffi::Py_IsInitialized() } != 0 {
            return Err("another copy of CPython is already running in this VM".into());
        }
        if let Some(python) = &config.python {
            // CPython would silently fall back to its build prefix: refuse instead, so a
            // mistyped venv never runs against the wrong site-packages.
            if !std::path::Path::new(python).exists() {
                return Err(format!("the configured python {python} does not exist"));
            }
        }
        let python = config.python.clone().or_else(|| default_python(&libpython));
        restore_sigchld();
        INIT_THREAD.store(
            crate::py::interrupt::current_thread() as i64,
            std::sync::atomic::Ordering::Relaxed,
        );
        initialize(python.as_deref())?;
        let started = Python::attach(|py| {
            prepare(py, config)?;
            describe(py, libpython)
        })
        .map_err(|e| format!("preparing the interpreter: {e}"));
        // SAFETY: this thread initialised Python and so holds the GIL with the main thread
        // state; release it for the workers. The main thread state is never resumed.
        unsafe { ffi::PyEval_SaveThread() };
        started
    });
    result.as_ref().map(|_| ()).map_err(Clone::clone)
}
