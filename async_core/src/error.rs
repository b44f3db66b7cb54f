//! Typed errors of the buffer, and their mapping onto `std::io::Error`.
//!
//! Every failure a caller can react to is a variant it can match on; nothing is a string
//! except the free-form abort reason a producer chose to give.

use std::fmt;
use std::io;
use std::sync::Arc;

/// Why a body was aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortReason {
    /// The last writer handle was dropped without `close()`.
    WriterGone,
    /// The producer gave a reason (a client disconnect, a dead owner process, ...).
    Other(Arc<str>),
}

impl AbortReason {
    /// A reason carrying the producer's own description.
    pub fn other(reason: impl Into<Arc<str>>) -> Self {
        Self::Other(reason.into())
    }
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WriterGone => f.write_str("writer gone"),
            Self::Other(reason) => f.write_str(reason),
        }
    }
}

/// Why a `seek` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekError {
    /// The target lies before the first byte still held (0, or the retained window's start
    /// in bounded mode).
    BeforeStart {
        /// The requested absolute position (may be negative).
        target: i128,
        /// The first position that can be reached.
        first: u64,
    },
    /// The target lies beyond the bytes written so far.
    PastEnd {
        /// The requested absolute position.
        target: i128,
        /// The number of bytes written so far.
        written: u64,
    },
    /// `SeekFrom::End` before the writer signalled EOF: the end is not known yet.
    EndUnknown,
}

impl fmt::Display for SeekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BeforeStart { target, first } => {
                write!(
                    f,
                    "cannot seek to {target}: the first retained byte is at {first}"
                )
            }
            Self::PastEnd { target, written } => {
                write!(
                    f,
                    "cannot seek to {target}: only {written} bytes were written"
                )
            }
            Self::EndUnknown => f.write_str("cannot seek relative to the end before EOF"),
        }
    }
}

/// Everything that can go wrong with a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A write after the writer called `close()`.
    Closed,
    /// A write after the reader called `close()`: nobody will read it.
    ReaderClosed,
    /// The body was aborted; reads raise this once the bytes that did arrive cannot satisfy
    /// them, writes raise it at once.
    Aborted(AbortReason),
    /// The writer closed before the announced content length arrived.
    Truncated {
        /// The announced content length.
        expected: u64,
        /// The bytes that arrived.
        got: u64,
    },
    /// A write would exceed the announced content length; nothing was written.
    Overflow {
        /// The announced content length.
        content_length: u64,
        /// The total the write would have reached.
        attempted: u64,
    },
    /// A blocking call's deadline passed.
    TimedOut,
    /// A refused `seek`.
    InvalidSeek(SeekError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("buffer closed for writing"),
            Self::ReaderClosed => f.write_str("the reader closed the buffer"),
            Self::Aborted(reason) => write!(f, "body aborted: {reason}"),
            Self::Truncated { expected, got } => {
                write!(f, "body truncated: expected {expected} bytes, got {got}")
            }
            Self::Overflow {
                content_length,
                attempted,
            } => write!(
                f,
                "write would exceed the content length: {attempted} > {content_length}"
            ),
            Self::TimedOut => f.write_str("timed out"),
            Self::InvalidSeek(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<SeekError> for Error {
    fn from(e: SeekError) -> Self {
        Self::InvalidSeek(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Closed | Error::ReaderClosed => io::ErrorKind::BrokenPipe,
            Error::Aborted(_) => io::ErrorKind::ConnectionAborted,
            Error::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            Error::Overflow { .. } | Error::InvalidSeek(_) => io::ErrorKind::InvalidInput,
            Error::TimedOut => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_kinds_match_the_failure() {
        let kind = |e: Error| io::Error::from(e).kind();
        assert_eq!(kind(Error::Closed), io::ErrorKind::BrokenPipe);
        assert_eq!(kind(Error::ReaderClosed), io::ErrorKind::BrokenPipe);
        assert_eq!(
            kind(Error::Aborted(AbortReason::WriterGone)),
            io::ErrorKind::ConnectionAborted
        );
        assert_eq!(
            kind(Error::Truncated {
                expected: 3,
                got: 1
            }),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(kind(Error::TimedOut), io::ErrorKind::TimedOut);
        assert_eq!(
            kind(Error::InvalidSeek(SeekError::EndUnknown)),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn io_error_keeps_the_typed_error_inside() {
        let e = io::Error::from(Error::Truncated {
            expected: 9,
            got: 4,
        });
        let inner = e.get_ref().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(
            inner,
            &Error::Truncated {
                expected: 9,
                got: 4
            }
        );
        assert_eq!(e.to_string(), "body truncated: expected 9 bytes, got 4");
    }
}
