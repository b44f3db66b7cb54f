//! Sizes that every part of py_buffer shares (the core, the Python extension, the blocking
//! facade and the Erlang NIF), defined once here so the parts cannot drift apart.

/// Writes of owned bytes at least this long are kept as their own block instead of copied:
/// the core's `Bytes` writes, Python `bytes` objects, large Erlang binaries, and reads that
/// hand out the buffer's own memory. Below it, copying is cheaper than keeping an owner.
pub const KEEP_WITHOUT_COPY_MIN: usize = 4 * 1024;

/// The default size of streamed chunks: the `Stream` / `AsyncBufRead` chunks, Python's
/// `achunks` and ASGI `receive`, and the blocking facade's `fill`.
pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;
