//! Python object → Erlang term (the table is in `py.erl`'s module doc).
//!
//! | Python | Erlang |
//! |---|---|
//! | `None` | `none` |
//! | `True` / `False` | `true` / `false` |
//! | `int` (within Erlang's integer range) | integer |
//! | `float` (finite) | float |
//! | `str` | UTF-8 binary |
//! | `bytes`, `bytearray` | binary |
//! | `list`; `set`, `frozenset` | list |
//! | `tuple` | tuple |
//! | `dict` | map |
//! | `erlang.Pid`, `erlang.Term` | the original term |
//! | `erlang.PyBuffer` of a buffer from Erlang | that very buffer term (`=:=`) |
//! | `erlang.PyBuffer` made in Python | an opaque resource term, converting back to that object |
//! | anything else (incl. `inf`/`nan`, larger ints, cycles) | `{pyobj, TypeName, Repr}` (binaries) |
//!
//! The walk is bounded: a container already on the path from the root (a cycle) becomes a
//! `{pyobj, ...}` tuple, and one conversion visits at most [`MAX_NODES`] objects and copies
//! at most [`MAX_BYTES`] bytes, so a value whose parts are shared (`x = [x, x]` forty times:
//! a tree of 2^40 nodes) fails with [`TooLarge`] instead of running for hours. Containers are
//! snapshotted before their items are converted (a `__repr__` that mutates a dict cannot make
//! the conversion panic), and reprs of builtin containers are bounded (`reprlib`).

use std::collections::HashSet;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    IntoPyDict, PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet,
    PyString, PyTuple,
};
use rustler::types::tuple::make_tuple;
use rustler::{Encoder, Env, Term, TermType};

use crate::atoms;
use crate::py::big_map;
use crate::py::opaque::Term as OpaqueTerm;
use crate::py::pid::Pid;
use crate::py::python_face::{self, Resource};
use crate::py::to_python::MAX_DEPTH;

/// Objects one conversion may visit.
pub const MAX_NODES: usize = 10_000_000;
/// Bytes (of `str`, `bytes`, ints and reprs) one conversion may copy.
pub const MAX_BYTES: usize = 1 << 30;

/// The value is beyond [`MAX_NODES`] / [`MAX_BYTES`]: `{error, result_too_large}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

fn binary<'a>(env: Env<'a>, data: &[u8]) -> Term<'a> {
    let mut binary = rustler::NewBinary::new(env, data.len());
    binary.as_mut_slice().copy_from_slice(data);
    rustler::Binary::from(binary).to_term(env)
}

/// `reprlib.Repr` with limits: repr of a shared or cyclic container stays small.
fn bounded_repr(object: &Bound<'_, PyAny>) -> PyResult<String> {
    static REPR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = object.py();
    let repr = REPR.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        let repr = py.import("reprlib")?.getattr("Repr")?.call0()?;
        for (name, value) in [
            ("maxlevel", 6),
            ("maxtuple", 100),
            ("maxlist", 100),
            ("maxdict", 100),
            ("maxset", 100),
            ("maxfrozenset", 100),
            ("maxstring", 1000),
            ("maxlong", 1000),
            ("maxother", 1000),
        ] {
            repr.setattr(name, value)?;
        }
        Ok(repr.unbind())
    })?;
    repr.bind(py).call_method1("repr", (object,))?.extract()
}

fn is_container(object: &Bound<'_, PyAny>) -> bool {
    object.is_instance_of::<PyList>()
        || object.is_instance_of::<PyTuple>()
        || object.is_instance_of::<PyDict>()
        || object.is_instance_of::<PySet>()
        || object.is_instance_of::<PyFrozenSet>()
}

/// One conversion: its path (for cycles) and what is left of its budget.
pub struct Converter<'a> {
    env: Env<'a>,
    path: HashSet<usize>,
    nodes: usize,
    bytes: usize,
}

impl<'a> Converter<'a> {
    /// A conversion into `env` with the full budget.
    pub fn new(env: Env<'a>) -> Self {
        Self {
            env,
            path: HashSet::new(),
            nodes: MAX_NODES,
            bytes: MAX_BYTES,
        }
    }

    fn spend_bytes(&mut self, n: usize) -> Result<(), TooLarge> {
        self.bytes = self.bytes.checked_sub(n).ok_or(TooLarge)?;
        Ok(())
    }

    fn binary(&mut self, data: &[u8]) -> Result<Term<'a>, TooLarge> {
        self.spend_bytes(data.len())?;
        Ok(binary(self.env, data))
    }

    /// `{pyobj, TypeName, Repr}`.
    fn pyobj(&mut self, object: &Bound<'_, PyAny>) -> Result<Term<'a>, TooLarge> {
        let type_name = object
            .get_type()
            .qualname()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        let repr = if is_container(object) {
            bounded_repr(object)
        } else {
            object.repr().map(|r| r.to_string())
        }
        .unwrap_or_else(|_| "<repr failed>".into());
        let type_name = self.binary(type_name.as_bytes())?;
        let repr = self.binary(repr.as_bytes())?;
        Ok((atoms::pyobj(), type_name, repr).encode(self.env))
    }

    fn integer(&mut self, object: &Bound<'_, PyAny>) -> Result<Term<'a>, TooLarge> {
        if let Ok(small) = object.extract::<i64>() {
            return Ok(small.encode(self.env));
        }
        // Two's-complement little-endian bytes, as `to_python` reads them.
        let bytes = (|| -> PyResult<Vec<u8>> {
            let bits: usize = object.call_method0("bit_length")?.extract()?;
            let kwargs = [("signed", true)].into_py_dict(object.py())?;
            let bytes = object.call_method("to_bytes", (bits / 8 + 1, "little"), Some(&kwargs))?;
            Ok(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
        })();
        let Ok(bytes) = bytes else {
            return self.pyobj(object);
        };
        self.spend_bytes(bytes.len())?;
        let term = rustler::BigInt::from_signed_bytes_le(&bytes).encode(self.env);
        // Beyond Erlang's integer range rustler encodes `{error, big_int_encoder_invalid_bytes}`.
        if term.get_type() == TermType::Integer {
            Ok(term)
        } else {
            self.pyobj(object)
        }
    }

    /// Converts the items of a container already on the path.
    fn container(&mut self, object: &Bound<'_, PyAny>, depth: usize) -> Result<Term<'a>, TooLarge> {
        let env = self.env;
        let deeper = |this: &mut Self, items: Vec<Bound<'_, PyAny>>| {
            items
                .iter()
                .map(|item| this.convert(item, depth + 1))
                .collect::<Result<Vec<_>, _>>()
        };
        if let Ok(list) = object.cast::<PyList>() {
            // A snapshot: a `__repr__` run below may change the list.
            let items: Vec<_> = list.iter().collect();
            return Ok(deeper(self, items)?.encode(env));
        }
        if let Ok(tuple) = object.cast::<PyTuple>() {
            let items: Vec<_> = tuple.iter().collect();
            return Ok(make_tuple(env, &deeper(self, items)?));
        }
        if let Ok(dict) = object.cast::<PyDict>() {
            // `dict.items()` is a new list: iterating it cannot see the dict change.
            let mut pairs = Vec::new();
            for pair in dict.items().iter() {
                let Ok((key, value)) = pair.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()
                else {
                    return self.pyobj(object);
                };
                pairs.push((
                    self.convert(&key, depth + 1)?,
                    self.convert(&value, depth + 1)?,
                ));
            }
            // Keys equal in Erlang but distinct in Python (`"a"` and `b"a"`): no map.
            return match big_map::from_pairs(env, &pairs) {
                Some(map) => Ok(map),
                None => self.pyobj(object),
            };
        }
        // set / frozenset: Python's own iterator raises (never panics) if the set changes.
        let items = object
            .try_iter()
            .and_then(|iter| iter.collect::<PyResult<Vec<_>>>());
        match items {
            Ok(items) => Ok(deeper(self, items)?.encode(env)),
            Err(_) => self.pyobj(object),
        }
    }

    /// Converts `object` at `depth` (see the module doc).
    pub fn convert(
        &mut self,
        object: &Bound<'_, PyAny>,
        depth: usize,
    ) -> Result<Term<'a>, TooLarge> {
        self.nodes = self.nodes.checked_sub(1).ok_or(TooLarge)?;
        let env = self.env;
        if depth > MAX_DEPTH {
            return self.pyobj(object);
        }
        if object.is_none() {
            return Ok(atoms::none().encode(env));
        }
        if let Ok(text) = object.cast::<PyString>() {
            return match text.to_str() {
                Ok(text) => self.binary(text.as_bytes()),
                Err(_) => self.pyobj(object), // lone surrogates
            };
        }
        if let Ok(flag) = object.cast::<PyBool>() {
            return Ok(flag.is_true().encode(env));
        }
        if object.cast::<PyInt>().is_ok() {
            return self.integer(object);
        }
        if let Ok(float) = object.cast::<PyFloat>() {
            let value = float.value();
            return if value.is_finite() {
                Ok(value.encode(env))
            } else {
                self.pyobj(object)
            };
        }
        if let Ok(bytes) = object.cast::<PyBytes>() {
            return self.binary(bytes.as_bytes());
        }
        if is_container(object) {
            let id = object.as_ptr() as usize;
            if !self.path.insert(id) {
                return self.pyobj(object); // a cycle
            }
            let result = self.container(object, depth);
            self.path.remove(&id);
            return result;
        }
        if let Ok(buffer) = object.cast::<py_buffer_python::PyBuffer>() {
            return Ok(match python_face::resource_of(buffer) {
                Resource::Buffer(buffer) => buffer.encode(env),
                Resource::Handle(handle) => handle.encode(env),
            });
        }
        if let Ok(pid) = object.cast::<Pid>() {
            return Ok(pid.get().pid().encode(env));
        }
        if let Ok(term) = object.cast::<OpaqueTerm>() {
            return Ok(term.get().load(env));
        }
        if let Ok(bytes) = object.cast::<PyByteArray>() {
            let data = bytes.to_vec();
            return self.binary(&data);
        }
        self.pyobj(object)
    }
}

/// Converts `object` into `env` (see the module doc).
pub fn from_python<'a>(env: Env<'a>, object: &Bound<'_, PyAny>) -> Result<Term<'a>, TooLarge> {
    Converter::new(env).convert(object, 0)
}
