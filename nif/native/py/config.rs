//! What the embedding is told when the library loads: which python, how many threads.
//!
//! `py_buffer:on_load/0` passes a map as the load info (from the application environment
//! of `py_buffer`); environment variables fill what it leaves out (and add to `python_path`):
//!
//! | key | environment variable | default |
//! |---|---|---|
//! | `python` (path of a python executable, e.g. a venv's `bin/python`) | `PY_BUFFER_PYTHON`, then `$VIRTUAL_ENV/bin/python` | the python next to the libpython the NIF was linked with |
//! | `python_path` (list of directories put first on `sys.path`) | `PY_BUFFER_PYTHON_PATH` (`:`-separated), appended | `[]` |
//! | `contexts` (worker threads reachable by `py:context(N)`, calls run in order) | `PY_BUFFER_CONTEXTS` | number of online schedulers, at least 2 |
//! | `max_workers` (threads for context-free calls, created on demand) | `PY_BUFFER_MAX_WORKERS` | 128 |
//! | `worker_slice_us` (the workers' scheduling slice while they sleep in a buffer's wait, `py_buffer_core::short_slice`; 0: the kernel's) | `PY_BUFFER_WORKER_SLICE_US` | 100 |

use rustler::{Term, TermType};

use crate::atoms;
use crate::py::lists::{charlist, proper_list};

/// The embedding's settings, fixed at load.
#[derive(Debug, Clone)]
pub struct Config {
    /// The python executable whose `sys.prefix` (venv or not) the interpreter takes.
    pub python: Option<String>,
    /// Directories prepended to `sys.path`.
    pub python_path: Vec<String>,
    /// Number of context workers (`py:context(1..N)`).
    pub contexts: usize,
    /// Upper bound on threads serving context-free calls.
    pub max_workers: usize,
    /// The slice each worker thread asks the kernel for while it sleeps in a buffer's wait,
    /// in microseconds (0: none asked).
    pub worker_slice_us: u64,
}

/// The workers' slice while asleep unless configured: the kernel's lower bound.
pub const DEFAULT_WORKER_SLICE_US: u64 = 100;

/// The environment variable `name`, parsed (`None` if unset or not a `T`).
fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.trim().parse().ok()
}

fn get<'a>(info: Term<'a>, key: rustler::Atom) -> Option<Term<'a>> {
    if info.get_type() != TermType::Map {
        return None;
    }
    info.map_get(key)
        .ok()
        .filter(|v| *v != atoms::undefined().to_term(v.get_env()))
}

fn string(term: Term<'_>) -> Option<String> {
    if let Ok(s) = term.decode::<String>() {
        return Some(s);
    }
    // A charlist, as application env values usually are.
    charlist(term)
}

impl Config {
    /// Reads the load info map, then the environment.
    pub fn from_load_info(info: Term<'_>) -> Self {
        let python = get(info, atoms::python())
            .and_then(string)
            .or_else(|| std::env::var("PY_BUFFER_PYTHON").ok())
            .or_else(|| {
                std::env::var("VIRTUAL_ENV")
                    .ok()
                    .map(|venv| format!("{venv}/bin/python"))
            })
            .filter(|p| !p.is_empty());
        // The load info's directories (priv/python first), then the environment's.
        let mut python_path: Vec<String> = get(info, atoms::python_path())
            .and_then(proper_list)
            .map(|dirs| dirs.into_iter().filter_map(string).collect())
            .unwrap_or_default();
        if let Ok(dirs) = std::env::var("PY_BUFFER_PYTHON_PATH") {
            python_path.extend(dirs.split(':').filter(|d| !d.is_empty()).map(String::from));
        }
        let schedulers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let contexts = get(info, atoms::contexts())
            .and_then(|t| t.decode::<usize>().ok())
            .or_else(|| env("PY_BUFFER_CONTEXTS"))
            .unwrap_or(schedulers.max(2))
            .clamp(1, 1024);
        let max_workers = get(info, atoms::max_workers())
            .and_then(|t| t.decode::<usize>().ok())
            .or_else(|| env("PY_BUFFER_MAX_WORKERS"))
            .unwrap_or(128)
            .clamp(1, 4096);
        let worker_slice_us = get(info, atoms::worker_slice_us())
            .and_then(|t| t.decode::<u64>().ok())
            .or_else(|| env("PY_BUFFER_WORKER_SLICE_US"))
            .unwrap_or(DEFAULT_WORKER_SLICE_US);
        Self {
            python,
            python_path,
            contexts,
            max_workers,
            worker_slice_us,
        }
    }
}
