//! The blocking facade of py_buffer: every reader operation, and a writer that waits for room
//! in bounded mode, for threads that block instead of awaiting.
//!
//! There is no second implementation here. Each call is the core's own operation driven by
//! [`py_buffer_core::Op::wait_deadline`], which parks the thread on the very listener an
//! async task would await; no runtime is started. An optional timeout turns a wait that
//! outlives it into [`Error::TimedOut`]. [`BlockingReader`] implements `std::io::{Read,
//! BufRead, Seek}` and [`BlockingWriter`] implements `std::io::Write`.
//!
//! ```
//! use std::io::{BufRead, Read};
//! use py_buffer_sync::{blocking, Options};
//!
//! let (mut writer, mut reader) = blocking(Options::new());
//! let producer = std::thread::spawn(move || {
//!     writer.write_all(b"first line\nsecond").unwrap();
//!     writer.close().unwrap();
//! });
//! let mut line = String::new();
//! reader.read_line(&mut line).unwrap();
//! assert_eq!(line, "first line\n");
//! let mut rest = Vec::new();
//! reader.read_to_end(&mut rest).unwrap();
//! assert_eq!(rest, b"second");
//! producer.join().unwrap();
//! ```
#![deny(missing_docs)]

mod reader;
mod writer;

pub use py_buffer_core::{AbortReason, Bytes, Error, Info, Options, ReadKind, Result};
pub use reader::BlockingReader;
pub use writer::BlockingWriter;

/// Creates a buffer and returns blocking writer and reader handles.
pub fn blocking(options: Options) -> (BlockingWriter, BlockingReader) {
    let (writer, reader) = py_buffer_core::channel(options);
    (BlockingWriter::new(writer), BlockingReader::new(reader))
}
