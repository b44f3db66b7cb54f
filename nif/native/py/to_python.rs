//! Erlang term → Python object (the table is in `py.erl`'s module doc).
//!
//! | Erlang | Python |
//! |---|---|
//! | integer (any size) | `int` |
//! | float | `float` |
//! | binary, valid UTF-8 | `str` |
//! | binary, not UTF-8 | `bytes` |
//! | `{bytes, Binary}` | `bytes` (forced) |
//! | `true` / `false` | `True` / `False` |
//! | `undefined` / `none` / `nil` (Elixir's, and the seed's) | `None` |
//! | other atom | `str` (its name) |
//! | list | `list` |
//! | tuple | `tuple` |
//! | map | `dict` |
//! | pid | `erlang.Pid` |
//! | `py_buffer` resource | `erlang.PyBuffer`, sharing the buffer (no copy; one object per buffer) |
//! | a `PyBuffer` made in Python that went to Erlang | that same object |
//! | reference, port, fun, improper list, bitstring | `erlang.Term` (opaque, converts back to itself) |

use pyo3::exceptions::PyRecursionError;
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};
use rustler::types::tuple::get_tuple;
use rustler::{Binary, LocalPid, ResourceArc, Term, TermType};

use crate::atoms;
use crate::buffer::BufferArc;
use crate::py::handle::PyHandle;
use crate::py::opaque::Term as OpaqueTerm;
use crate::py::pid::Pid;
use crate::py::python_face;

/// Deeper terms are refused (RecursionError) rather than overflowing the worker's stack.
pub const MAX_DEPTH: usize = 1000;

/// A term the type said was decodable, and was not.
fn nif_err(error: rustler::Error) -> PyErr {
    pyo3::exceptions::PyTypeError::new_err(format!("undecodable Erlang term: {error:?}"))
}

fn opaque<'py>(py: Python<'py>, term: Term<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(Bound::new(py, OpaqueTerm::new(term))?.into_any())
}

fn integer<'py>(py: Python<'py>, term: Term<'_>) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(small) = term.decode::<i64>() {
        return Ok(small.into_pyobject(py)?.into_any());
    }
    // A bignum crosses as its two's-complement bytes: no second num-bigint (pyo3's feature
    // would pin 0.4 while rustler uses 0.5) and no feature leaking into the Python crate.
    let big: rustler::BigInt = term.decode().map_err(nif_err)?;
    let bytes = PyBytes::new(py, &big.to_signed_bytes_le());
    let kwargs = [("signed", true)].into_py_dict(py)?;
    py.get_type::<PyInt>()
        .call_method("from_bytes", (bytes, "little"), Some(&kwargs))
}

fn list<'py>(py: Python<'py>, term: Term<'_>, depth: usize) -> PyResult<Bound<'py, PyAny>> {
    let items = PyList::empty(py);
    let mut rest = term;
    while let Ok((head, tail)) = rest.list_get_cell() {
        items.append(to_python(py, head, depth + 1)?)?;
        rest = tail;
    }
    if rest.list_length().ok() != Some(0) {
        return opaque(py, term);
    }
    Ok(items.into_any())
}

fn tuple<'py>(py: Python<'py>, term: Term<'_>, depth: usize) -> PyResult<Bound<'py, PyAny>> {
    let elements = get_tuple(term).map_err(nif_err)?;
    if let [tag, data] = elements[..] {
        if tag == atoms::bytes().to_term(term.get_env()) {
            if let Ok(binary) = data.decode::<Binary>() {
                return Ok(PyBytes::new(py, binary.as_slice()).into_any());
            }
        }
    }
    let items = elements
        .into_iter()
        .map(|element| to_python(py, element, depth + 1))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyTuple::new(py, items)?.into_any())
}

/// A map term as a `dict` (for kwargs and locals, as well as values).
pub fn to_python_dict<'py>(
    py: Python<'py>,
    term: Term<'_>,
    depth: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let iter = rustler::MapIterator::new(term)
        .ok_or_else(|| pyo3::exceptions::PyTypeError::new_err("expected a map"))?;
    for (key, value) in iter {
        dict.set_item(
            to_python(py, key, depth + 1)?,
            to_python(py, value, depth + 1)?,
        )?;
    }
    Ok(dict)
}

fn atom<'py>(py: Python<'py>, term: Term<'_>) -> PyResult<Bound<'py, PyAny>> {
    let env = term.get_env();
    if term == rustler::types::atom::true_().to_term(env) {
        return Ok(PyBool::new(py, true).to_owned().into_any());
    }
    if term == rustler::types::atom::false_().to_term(env) {
        return Ok(PyBool::new(py, false).to_owned().into_any());
    }
    if term == atoms::undefined().to_term(env)
        || term == atoms::none().to_term(env)
        || term == atoms::nil().to_term(env)
    {
        return Ok(py.None().into_bound(py));
    }
    Ok(PyString::new(py, &term.atom_to_string().map_err(nif_err)?).into_any())
}

/// Converts `term` (see the module doc). Fails only on unhashable dict keys or too deep terms.
pub fn to_python<'py>(
    py: Python<'py>,
    term: Term<'_>,
    depth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    if depth > MAX_DEPTH {
        return Err(PyRecursionError::new_err("Erlang term nested too deeply"));
    }
    match term.get_type() {
        TermType::Binary => match term.decode::<Binary>() {
            Ok(binary) => Ok(match std::str::from_utf8(binary.as_slice()) {
                Ok(text) => PyString::new(py, text).into_any(),
                Err(_) => PyBytes::new(py, binary.as_slice()).into_any(),
            }),
            // A bitstring whose size is not a whole number of bytes.
            Err(_) => opaque(py, term),
        },
        TermType::Integer => integer(py, term),
        TermType::Float => Ok(term
            .decode::<f64>()
            .map_err(nif_err)?
            .into_pyobject(py)?
            .into_any()),
        TermType::Atom => atom(py, term),
        TermType::List => list(py, term, depth),
        TermType::Tuple => tuple(py, term, depth),
        TermType::Map => Ok(to_python_dict(py, term, depth)?.into_any()),
        TermType::Pid => {
            Ok(Bound::new(py, Pid::new(term.decode::<LocalPid>().map_err(nif_err)?))?.into_any())
        }
        TermType::Ref => {
            if let Ok(buffer) = term.decode::<BufferArc>() {
                return Ok(python_face::face(py, &buffer)?.into_any());
            }
            if let Ok(handle) = term.decode::<ResourceArc<PyHandle>>() {
                if let Some(object) = python_face::handle_object(py, &handle) {
                    return Ok(object);
                }
            }
            opaque(py, term)
        }
        TermType::Fun | TermType::Port | TermType::Unknown => opaque(py, term),
    }
}
