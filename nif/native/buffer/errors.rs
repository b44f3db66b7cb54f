//! Core errors as Erlang terms, and aborting a body with an Erlang reason.
//!
//! | core error | term |
//! |---|---|
//! | `Closed` | `closed` |
//! | `ReaderClosed` | `reader_closed` |
//! | `Aborted(reason)` | `{aborted, Reason}`: the term given to `abort/2` or `{owner_down, Why}` (bounded: [`crate::buffer::stored_reason`]), `writer_gone`, or a binary (a reason given by Python or Rust) |
//! | `Truncated { expected, got }` | `{truncated, Expected, Got}` |
//! | `Overflow { content_length, attempted }` | `{overflow, ContentLength, Attempted}` |
//! | `TimedOut` | `timeout` |

use std::sync::Arc;

use py_buffer_core::{AbortReason, Error};
use rustler::{Encoder, Env, Term};

use crate::atoms;
use crate::buffer::stored_reason::StoredReason;
use crate::buffer::Inner;

/// The term for `error` (the `Reason` of `{error, Reason}`).
pub fn reason<'a>(env: Env<'a>, inner: &Inner, error: &Error) -> Term<'a> {
    match error {
        Error::Closed => atoms::closed().encode(env),
        Error::ReaderClosed => atoms::reader_closed().encode(env),
        Error::Aborted(why) => (atoms::aborted(), abort_reason(env, inner, why)).encode(env),
        Error::Truncated { expected, got } => (atoms::truncated(), *expected, *got).encode(env),
        Error::Overflow {
            content_length,
            attempted,
        } => (atoms::overflow(), *content_length, *attempted).encode(env),
        Error::TimedOut => atoms::timeout().encode(env),
        other => other.to_string().encode(env),
    }
}

/// `{error, Reason}`.
pub fn error<'a>(env: Env<'a>, inner: &Inner, error: &Error) -> Term<'a> {
    (atoms::error(), reason(env, inner, error)).encode(env)
}

/// The Erlang form of an abort reason: the stored (bounded) term for a reason set from
/// Erlang, copied into `env` (never decoded again).
pub fn abort_reason<'a>(env: Env<'a>, inner: &Inner, why: &AbortReason) -> Term<'a> {
    match why {
        AbortReason::WriterGone => atoms::writer_gone().encode(env),
        AbortReason::Other(text) => {
            let stored = inner.abort_term().clone();
            match stored {
                Some(ours) if Arc::ptr_eq(&ours.text, text) => ours.load(env),
                _ => text.as_bytes().encode(env),
            }
        }
    }
}

/// Aborts the body with `why` (Erlang readers get its kept term, Python its printed form;
/// see [`StoredReason`]). The first reason wins; an error after `close`.
pub fn abort_with(inner: &Inner, why: &Arc<StoredReason>) -> py_buffer_core::Result<()> {
    {
        let mut stored = inner.abort_term();
        if stored.is_none() {
            *stored = Some(Arc::clone(why));
        }
    }
    inner
        .writer()
        .abort(AbortReason::Other(Arc::clone(&why.text)))
}
