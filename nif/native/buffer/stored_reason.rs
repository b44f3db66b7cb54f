//! Abort reasons stored once, bounded.
//!
//! `abort(Buf, Reason)` and an owner's exit (`{owner_down, ExitReason}`) can carry terms of
//! any size: a 10M-element reason took 130 ms to print and encode on the scheduler, and every
//! later `info/1`, `read/2` or `write/2` decoded it again (709 ms for one `info/1`). So a reason
//! is turned once, when the body is aborted, into a [`StoredReason`]:
//!
//! - the **kept term**: the reason itself when it is within [`KEPT`] (at most 4096 nodes,
//!   nested at most 64 deep), else a copy cut like `io_lib`'s `~P`: the parts beyond the bound
//!   are replaced by the atom `'...'` (a list's tail, a tuple's or map's remaining elements,
//!   anything nested deeper). It lives in an `OwnedEnv`; each call that reports it copies at
//!   most those nodes into the caller's heap (binaries over 64 bytes are shared, not copied);
//! - the **printed form** Python sees (`BodyAborted`'s message): the reason cut to [`PRINTED`]
//!   (256 nodes, 16 deep, binaries to 256 bytes, integers beyond 64 bits dropped), printed,
//!   and capped at [`PRINTED_MAX`] bytes.
//!
//! Not bounded: a fun's captured environment and a bignum in the kept term are copied whole
//! (the NIF API cannot size them without walking them).
//!
//! Buffers in a reason become `'...'` too: a stored reason that held a buffer whose reason
//! it is (an owner dying in a call that took the buffer, `abort(B, {gone, B})`) kept both
//! alive for good. A buffer inside a fun's environment still does (not walked).
//!
//! Building both walks at most [`KEPT`]'s nodes of the term, whatever its size, so aborting
//! never holds a scheduler for long. One owner dying with many buffers stores its reason
//! once and shares it.

use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex};

use rustler::env::SavedTerm;
use rustler::sys::{c_int, enif_get_tuple};
use rustler::types::tuple::make_tuple;
use rustler::{Binary, Encoder, Env, MapIterator, OwnedEnv, Term, TermType};

use crate::atoms;
use crate::buffer::{lock, BufferArc};

/// How much of a term a cut keeps.
pub struct Limits {
    /// Nodes (terms, list cells, map entries count one each) kept before the rest is `'...'`.
    pub nodes: usize,
    /// Nesting kept; deeper subterms become `'...'`.
    pub depth: usize,
    /// Binary bytes kept (longer binaries are cut to a sub-binary of this length; bitstrings
    /// that are not binaries become `'...'` unless this is `usize::MAX`).
    pub binary: usize,
    /// Integers beyond 64 bits become `'...'` (printing one costs quadratic time).
    pub cut_bignums: bool,
}

/// The bound on the term Erlang readers get back.
pub const KEPT: Limits = Limits {
    nodes: 4096,
    depth: 64,
    binary: usize::MAX,
    cut_bignums: false,
};

/// The bound on the term printed for Python.
pub const PRINTED: Limits = Limits {
    nodes: 256,
    depth: 16,
    binary: 256,
    cut_bignums: true,
};

/// The printed form is capped at this many bytes.
pub const PRINTED_MAX: usize = 4096;

/// An abort reason: the kept term and its printed form.
pub struct StoredReason {
    /// The env holding the kept term, and that term.
    kept: Mutex<(OwnedEnv, SavedTerm)>,
    /// The printed form (the core's abort reason, which Python shows).
    pub text: Arc<str>,
}

impl StoredReason {
    /// Stores `why`, cut to [`KEPT`], with its printed form.
    pub fn new(why: Term<'_>) -> Arc<Self> {
        let env = why.get_env();
        let kept = cut(env, why, &KEPT);
        let printed = cut(env, kept, &PRINTED);
        let mut text = format!("{printed:?}");
        if text.len() > PRINTED_MAX {
            let mut end = PRINTED_MAX;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str("...");
        }
        let owned = OwnedEnv::new();
        let term = owned.save(kept);
        Arc::new(Self {
            kept: Mutex::new((owned, term)),
            text: Arc::from(text),
        })
    }

    /// The kept term, copied into `env`.
    pub fn load<'a>(&self, env: Env<'a>) -> Term<'a> {
        let kept = lock(&self.kept);
        let (owned, term) = &*kept;
        owned.run(|own| term.load(own).in_env(env))
    }
}

/// `term` cut to `limits` (the term itself when nothing had to go).
pub fn cut<'a>(env: Env<'a>, term: Term<'a>, limits: &Limits) -> Term<'a> {
    let mut cutter = Cutter {
        env,
        limits,
        budget: limits.nodes,
    };
    cutter.walk(term, 0)
}

struct Cutter<'a, 'l> {
    env: Env<'a>,
    limits: &'l Limits,
    /// Nodes still to keep.
    budget: usize,
}

/// Same term (identical handle, so unchanged by the walk).
fn same(a: Term<'_>, b: Term<'_>) -> bool {
    a.as_c_arg() == b.as_c_arg()
}

impl<'a> Cutter<'a, '_> {
    fn dots(&self) -> Term<'a> {
        atoms::dots().encode(self.env)
    }

    fn walk(&mut self, term: Term<'a>, depth: usize) -> Term<'a> {
        if self.budget == 0 || depth >= self.limits.depth {
            return self.dots();
        }
        self.budget -= 1;
        match term.get_type() {
            TermType::List => self.list(term, depth),
            TermType::Tuple => self.tuple(term, depth),
            TermType::Map => self.map(term, depth),
            TermType::Binary => self.binary(term),
            TermType::Integer if self.limits.cut_bignums => {
                let small = term.decode::<i64>().is_ok() || term.decode::<u64>().is_ok();
                if small {
                    term
                } else {
                    self.dots()
                }
            }
            // A buffer in its own reason (an owner's `function_clause` lists the buffer it
            // was called with; `abort(B, {gone, B})`) would keep itself alive for good: the
            // stored reason holds the buffer, the buffer its reason.
            TermType::Ref if term.decode::<BufferArc>().is_ok() => self.dots(),
            _ => term,
        }
    }

    fn list(&mut self, term: Term<'a>, depth: usize) -> Term<'a> {
        let mut items = Vec::new();
        let mut changed = false;
        let mut rest = term;
        let tail = loop {
            match rest.list_get_cell() {
                Ok((head, next)) => {
                    if self.budget == 0 {
                        changed = true;
                        break self.dots();
                    }
                    let kept = self.walk(head, depth + 1);
                    changed |= !same(kept, head);
                    items.push(kept);
                    rest = next;
                }
                // `[]`, or the tail of an improper list.
                Err(_) if rest.is_empty_list() => break rest,
                Err(_) => {
                    let kept = self.walk(rest, depth + 1);
                    changed |= !same(kept, rest);
                    break kept;
                }
            }
        };
        if !changed {
            return term;
        }
        items
            .into_iter()
            .rev()
            .fold(tail, |list, item| list.list_prepend(item))
    }

    fn tuple(&mut self, term: Term<'a>, depth: usize) -> Term<'a> {
        let mut arity: c_int = 0;
        let mut array = MaybeUninit::uninit();
        // SAFETY: `term` is a valid term of `self.env` (it came from the walk of a term of
        // that env); `enif_get_tuple` only writes the arity and the element array pointer.
        let ok = unsafe {
            enif_get_tuple(
                self.env.as_c_arg(),
                term.as_c_arg(),
                &mut arity,
                array.as_mut_ptr(),
            )
        };
        if ok != 1 {
            return self.dots();
        }
        let arity = usize::try_from(arity).unwrap_or(0);
        if arity == 0 {
            return term;
        }
        // SAFETY: on success `array` points to `arity` terms, valid as long as `term` is
        // (the lifetime of the env `'a`).
        let elements = unsafe { std::slice::from_raw_parts(array.assume_init(), arity) };
        let mut kept = Vec::new();
        let mut changed = false;
        for &raw in elements {
            if self.budget == 0 {
                kept.push(self.dots());
                changed = true;
                break;
            }
            // SAFETY: `raw` is an element of a tuple of `self.env`, so a term of that env.
            let element = unsafe { Term::new(self.env, raw) };
            let cut = self.walk(element, depth + 1);
            changed |= !same(cut, element);
            kept.push(cut);
        }
        if changed {
            make_tuple(self.env, &kept)
        } else {
            term
        }
    }

    fn map(&mut self, term: Term<'a>, depth: usize) -> Term<'a> {
        let Some(entries) = MapIterator::new(term) else {
            return self.dots();
        };
        let mut kept = Vec::new();
        let mut changed = false;
        for (key, value) in entries {
            if self.budget == 0 {
                kept.push((self.dots(), self.dots()));
                changed = true;
                break;
            }
            let k = self.walk(key, depth + 1);
            let v = self.walk(value, depth + 1);
            changed |= !same(k, key) || !same(v, value);
            kept.push((k, v));
        }
        if !changed {
            return term;
        }
        Term::map_from_pairs(self.env, &kept).unwrap_or_else(|_| self.dots())
    }

    fn binary(&mut self, term: Term<'a>) -> Term<'a> {
        match Binary::from_term(term) {
            Ok(binary) if binary.len() > self.limits.binary => binary
                .make_subbinary(0, self.limits.binary)
                .map_or_else(|_| self.dots(), |b| b.to_term(self.env)),
            Ok(_) => term,
            // A bitstring: kept whole, except where its printed size is bounded.
            Err(_) if self.limits.binary == usize::MAX => term,
            Err(_) => self.dots(),
        }
    }
}
