//! py_buffer: streaming byte buffers that carry an HTTP body (or any byte stream) from a
//! producer to a consumer in one process — Rust, Python (`py_buffer` package) or Erlang
//! (`py_buffer` NIF).
//!
//! This umbrella crate re-exports the async core ([`py_buffer_core`]) at its root and the
//! blocking facade ([`py_buffer_sync`]) as [`blocking`].
//!
//! Async: reads are futures, woken by the writer through `event-listener`.
//!
//! ```
//! use py_buffer::{channel, Options};
//!
//! # futures::executor::block_on(async {
//! let (writer, reader) = channel(Options::new());
//! writer.write(b"GET body\n").await.unwrap();
//! writer.close().unwrap();
//! assert_eq!(reader.readline(None).await.unwrap(), &b"GET body\n"[..]);
//! assert!(reader.read_to_end().await.unwrap().is_empty());
//! # });
//! ```
//!
//! Blocking, with `std::io` traits, from a producer thread to a consumer thread:
//!
//! ```
//! use std::io::Read;
//! use py_buffer::blocking::{blocking, Options};
//!
//! let (writer, mut reader) = blocking(Options::new().max_buffered(4));
//! let producer = std::thread::spawn(move || {
//!     writer.write_all(b"larger than the bound").unwrap(); // waits for the reader to drain
//!     writer.close().unwrap();
//! });
//! let mut body = String::new();
//! reader.read_to_string(&mut body).unwrap();
//! assert_eq!(body, "larger than the bound");
//! producer.join().unwrap();
//! ```
#![deny(missing_docs)]

pub use py_buffer_core::*;

/// The blocking facade: [`py_buffer_sync`].
pub mod blocking {
    pub use py_buffer_sync::*;
}

/// The README's Rust examples, run as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
