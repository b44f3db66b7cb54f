//! Python object → Erlang term (the table is in `py.erl`'s module doc).
//!
//! | Python | Erlang |
//! |---|---|
//! | `None` | `none` |
//! | `True` / `False` | `true` / `false` |
//! | `int` (any size) | integer |
//! | `float` (finite) | float |
//! | `str` | UTF-8 binary |
//! | `bytes`, `bytearray` | binary |
//! | `list`; `set`, `frozenset` | list |
//! | `tuple` | tuple |
//! | `dict` | map |
//! | `erlang.Pid`, `erlang.Term` | the original term |
//! | `erlang.PyBuffer` of a buffer from Erlang | that buffer (a `py_buffer` resource) |
//! | `erlang.PyBuffer` made in Python | `{pyobj, <<"PyBuffer">>, Repr}` |
//! | anything else (incl. `inf`/`nan`) | `{pyobj, TypeName, Repr}` (binaries) |
//!
//! Never fails: what has no Erlang form (or is nested more than [`MAX_DEPTH`] deep) becomes a
//! `{pyobj, ...}` tuple.

use pyo3::prelude::*;
use pyo3::types::{
    IntoPyDict, PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet,
    PyString, PyTuple,
};
use rustler::types::tuple::make_tuple;
use rustler::{Encoder, Env, ResourceArc, Term};

use crate::buffer::Buffer;

use crate::atoms;
use crate::py::opaque::Term as OpaqueTerm;
use crate::py::pid::Pid;
use crate::py::to_python::MAX_DEPTH;

fn binary<'a>(env: Env<'a>, data: &[u8]) -> Term<'a> {
    let mut binary = rustler::NewBinary::new(env, data.len());
    binary.as_mut_slice().copy_from_slice(data);
    rustler::Binary::from(binary).to_term(env)
}

/// `{pyobj, TypeName, Repr}`.
fn pyobj<'a>(env: Env<'a>, object: &Bound<'_, PyAny>) -> Term<'a> {
    let type_name = object
        .get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    let repr = object
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "<repr failed>".into());
    (
        atoms::pyobj(),
        binary(env, type_name.as_bytes()),
        binary(env, repr.as_bytes()),
    )
        .encode(env)
}

fn integer<'a>(env: Env<'a>, object: &Bound<'_, PyAny>) -> Term<'a> {
    if let Ok(small) = object.extract::<i64>() {
        return small.encode(env);
    }
    // Two's-complement little-endian bytes, as `to_python` reads them.
    let bytes = (|| -> PyResult<Vec<u8>> {
        let bits: usize = object.call_method0("bit_length")?.extract()?;
        let kwargs = [("signed", true)].into_py_dict(object.py())?;
        let bytes = object.call_method("to_bytes", (bits / 8 + 1, "little"), Some(&kwargs))?;
        Ok(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
    })();
    match bytes {
        Ok(bytes) => rustler::BigInt::from_signed_bytes_le(&bytes).encode(env),
        Err(_) => pyobj(env, object),
    }
}

fn items<'a, 'py>(
    env: Env<'a>,
    iter: impl Iterator<Item = Bound<'py, PyAny>>,
    depth: usize,
) -> Vec<Term<'a>> {
    iter.map(|item| from_python(env, &item, depth + 1))
        .collect()
}

/// Converts `object` (see the module doc).
pub fn from_python<'a>(env: Env<'a>, object: &Bound<'_, PyAny>, depth: usize) -> Term<'a> {
    if depth > MAX_DEPTH {
        return pyobj(env, object);
    }
    if object.is_none() {
        return atoms::none().encode(env);
    }
    if let Ok(text) = object.cast::<PyString>() {
        return match text.to_str() {
            Ok(text) => binary(env, text.as_bytes()),
            Err(_) => pyobj(env, object), // lone surrogates
        };
    }
    if let Ok(flag) = object.cast::<PyBool>() {
        return flag.is_true().encode(env);
    }
    if object.cast::<PyInt>().is_ok() {
        return integer(env, object);
    }
    if let Ok(float) = object.cast::<PyFloat>() {
        let value = float.value();
        return if value.is_finite() {
            value.encode(env)
        } else {
            pyobj(env, object)
        };
    }
    if let Ok(bytes) = object.cast::<PyBytes>() {
        return binary(env, bytes.as_bytes());
    }
    if let Ok(list) = object.cast::<PyList>() {
        return items(env, list.iter(), depth).encode(env);
    }
    if let Ok(tuple) = object.cast::<PyTuple>() {
        return make_tuple(env, &items(env, tuple.iter(), depth));
    }
    if let Ok(dict) = object.cast::<PyDict>() {
        let pairs: Vec<(Term<'a>, Term<'a>)> = dict
            .iter()
            .map(|(k, v)| {
                (
                    from_python(env, &k, depth + 1),
                    from_python(env, &v, depth + 1),
                )
            })
            .collect();
        return Term::map_from_pairs(env, &pairs).unwrap_or_else(|_| pyobj(env, object));
    }
    if let Ok(buffer) = object.cast::<py_buffer_python::PyBuffer>() {
        return match crate::py::python_face::buffer_of(buffer) {
            Some(inner) => ResourceArc::new(Buffer(inner)).encode(env),
            None => pyobj(env, object),
        };
    }
    if let Ok(pid) = object.cast::<Pid>() {
        return pid.get().pid().encode(env);
    }
    if let Ok(term) = object.cast::<OpaqueTerm>() {
        return term.get().load(env);
    }
    if let Ok(bytes) = object.cast::<PyByteArray>() {
        return binary(env, &bytes.to_vec());
    }
    if let Ok(set) = object.cast::<PySet>() {
        return items(env, set.iter(), depth).encode(env);
    }
    if let Ok(set) = object.cast::<PyFrozenSet>() {
        return items(env, set.iter(), depth).encode(env);
    }
    pyobj(env, object)
}
