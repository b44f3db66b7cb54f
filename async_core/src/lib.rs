//! The async-first core of py_buffer: one append-only byte buffer shared by `Arc`, whose
//! waiters are woken through [`event_listener`].
//!
//! A buffer carries one HTTP body (or any byte stream) from a producer to a consumer in the
//! same process. [`channel`] creates it and returns a [`Writer`] and a [`Reader`]. Reads are
//! futures that can also be waited on by a blocking thread, so the blocking facade
//! (`py-buffer-sync`) and every language binding use the same state machine and the same
//! listeners:
//!
//! ```
//! # if py_buffer_core::__built_for_loom() { return; } // loom locks need a loom model
//! use py_buffer_core::{channel, Options};
//!
//! let (writer, reader) = channel(Options::new());
//! let producer = std::thread::spawn(move || {
//!     for chunk in [&b"hello "[..], b"world"] {
//!         writer.try_write(chunk).unwrap();
//!     }
//!     writer.close().unwrap();
//! });
//! // Blocking: the same operation the async API returns, driven by `wait`.
//! assert_eq!(reader.read_to_end().wait().unwrap(), &b"hello world"[..]);
//! producer.join().unwrap();
//! ```
//!
//! Semantics in brief (see `docs/contract.md` §2 and `docs/decisions.md`):
//! - writes append and never move earlier bytes; snapshots ([`Reader::snapshot`], the
//!   [`bytes::Bytes`] reads return) stay valid while the buffer grows;
//! - a known content length pre-allocates (capped), ends the body when reached, refuses
//!   writes beyond it, and turns an early `close` into [`Error::Truncated`];
//! - bounded mode ([`Options::max_buffered`]) releases consumed blocks and makes writers wait;
//! - a read that cannot be met by a failed body fails without consuming anything;
//! - dropping the last [`Writer`] unclosed aborts the body ([`AbortReason::WriterGone`]).
#![deny(missing_docs)]

mod arena;
mod driver;
mod edge;
mod error;
mod ops;
mod options;
mod prefault;
mod read_kind;
mod reader;
mod reader_io;
mod shared;
pub mod short_slice;
mod sizes;
mod sleepers;
mod slices;
pub mod spin;
mod state;
mod storage;
mod sync;
#[doc(hidden)]
pub mod wake_trace;
#[cfg(not(loom))]
mod weak;
mod writer;
mod writer_io;

pub use bytes::Bytes;
pub use driver::{Attempt, Op, WaitsOn};
pub use edge::{Edge, Observer};
pub use error::{AbortReason, Error, Result, SeekError};
pub use ops::{
    Fill, HangUp, ReadBytes, ReadInto, ReadLines, Ready, Room, Take, ToBytes, ToLines, WriteBytes,
    WriteSlice,
};
pub use options::Options;
pub use read_kind::ReadKind;
pub use reader::Reader;
pub use sizes::{DEFAULT_CHUNK_SIZE, KEEP_WITHOUT_COPY_MIN};
pub use slices::Slices;
pub use state::Info;
#[cfg(not(loom))]
pub use weak::{WeakReader, WeakWriter};
pub use writer::Writer;

/// True when the crate was built with `--cfg loom` for the loom models.
///
/// Its locks then belong to loom and work only inside a `loom::model`, so the doctests
/// return early in that build (`RUSTFLAGS="--cfg loom" cargo test` runs the loom models and
/// skips the examples, which the normal build runs).
#[doc(hidden)]
pub fn __built_for_loom() -> bool {
    cfg!(loom)
}

/// Creates a buffer and returns its first writer and reader handles.
pub fn channel(options: Options) -> (Writer, Reader) {
    let shared = shared::Shared::new(&options);
    let reader = Reader::from_shared(sync::Arc::clone(&shared));
    (Writer::from_shared(shared), reader)
}
