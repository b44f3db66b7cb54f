//! `PyBuffer`: the consumer's side of a buffer as a Python file-like object (`wsgi.input`).
//!
//! Every read is one core [`ReadKind`]: tried first with the GIL held, copying straight into a
//! new `bytes` under the buffer's lock; only if it must wait does it release the GIL and wait
//! on the core's listener ([`crate::wait::park`]), then try again. A read that a failed body
//! cannot satisfy raises without consuming anything, so the bytes that did arrive are never
//! lost and a body is never silently short.

use std::ffi::c_int;
use std::io::SeekFrom;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use py_buffer_core::{channel, wake_trace, Bytes, Options, ReadKind, Reader, Slices, Writer};
use pyo3::exceptions::{PyBufferError, PyMemoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple, PyType};

use crate::adopt::adopt;
use crate::args::{self, ByteSource, Target};
use crate::copy::{bytes_from_slice, bytes_from_slices};
use crate::errors::to_py;
use crate::wait::{deadline, park};
use crate::writer::BufferWriter;

/// `timeout_bits` value meaning "no timeout" (a NaN pattern: NaN timeouts are refused).
const NO_TIMEOUT: u64 = u64::MAX;

/// A `SEEK_SET` offset: negative ones are refused.
fn non_negative(offset: i64) -> PyResult<u64> {
    u64::try_from(offset)
        .map_err(|_| PyValueError::new_err(format!("negative seek position {offset}")))
}

/// A streaming byte buffer read like a binary file (the seed's `erlang.PyBuffer`).
///
/// Thread-safe (`frozen`: no borrow errors); every reader shares one read position.
#[pyclass(frozen, weakref, module = "py_buffer._native", name = "PyBuffer")]
pub struct PyBuffer {
    reader: Reader,
    /// The producer handle of a buffer made from Python, kept until `writer()` hands it out,
    /// so a buffer whose producer was never taken does not abort by itself.
    held_writer: Mutex<Option<Writer>>,
    /// The `settimeout` value as given (`f64::to_bits`, so `gettimeout` returns exactly it,
    /// `inf` included), [`NO_TIMEOUT`] for none.
    timeout_bits: AtomicU64,
}

impl PyBuffer {
    /// Wraps the reader side of a buffer made in Rust (the Erlang NIF hands buffers to Python
    /// this way). `writer()` then returns new handles on the same buffer.
    pub fn from_reader(reader: Reader) -> Self {
        Self {
            reader,
            held_writer: Mutex::new(None),
            timeout_bits: AtomicU64::new(NO_TIMEOUT),
        }
    }

    fn with_writer(reader: Reader, writer: Writer) -> Self {
        let buffer = Self::from_reader(reader);
        *buffer.held() = Some(writer);
        buffer
    }

    /// The core reader behind this object.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<Writer>> {
        self.held_writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn timeout_secs(&self) -> Option<f64> {
        match self.timeout_bits.load(Ordering::Relaxed) {
            NO_TIMEOUT => None,
            bits => Some(f64::from_bits(bits)),
        }
    }

    fn timeout(&self) -> Option<Duration> {
        // Validated by `settimeout`; `inf` and huge values mean no deadline.
        self.timeout_secs()
            .and_then(|s| args::timeout(Some(s)).ok().flatten())
    }

    /// Runs a read of `kind`: `take` builds the result from the bytes taken, under the lock;
    /// when it fails (`MemoryError`) nothing is taken.
    fn blocking_read<'py, T>(
        &self,
        py: Python<'py>,
        kind: ReadKind,
        what: &str,
        mut take: impl FnMut(Slices<'_>) -> PyResult<T>,
    ) -> PyResult<T> {
        if let Some(result) = self.reader.try_read_or_keep(kind, &mut take) {
            return result.map_err(to_py)?;
        }
        let deadline = deadline(self.timeout());
        let mut ready = self.reader.ready(kind);
        loop {
            park(py, &mut ready, deadline, what)?;
            if let Some(result) = self.reader.try_read_or_keep(kind, &mut take) {
                wake_trace::mark(wake_trace::Point::BytesMade);
                return result.map_err(to_py)?;
            }
        }
    }

    fn read_bytes<'py>(
        &self,
        py: Python<'py>,
        kind: ReadKind,
        what: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.blocking_read(py, kind, what, |slices| bytes_from_slices(py, &slices))
    }

    /// One line (through `\n`), at most `limit` bytes; the rest of the body at EOF. A line
    /// inside the current block of an unbounded buffer takes the core's fast path.
    pub(crate) fn read_line<'py>(
        &self,
        py: Python<'py>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if limit.is_none() {
            if let Some(line) = self
                .reader
                .try_line_in_block(b'\n', |line| bytes_from_slice(py, line))
            {
                return Ok(line);
            }
        }
        self.read_bytes(
            py,
            ReadKind::Until {
                delim: b'\n',
                limit,
            },
            "readline()",
        )
    }

    /// The next line for iteration: `None` at EOF (an empty read).
    pub(crate) fn next_line<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.read_line(py, None)?;
        Ok((!line.as_bytes().is_empty()).then_some(line))
    }

    fn read_into(&self, py: Python<'_>, b: &Bound<'_, PyAny>, exact: bool) -> PyResult<usize> {
        // SAFETY: an all-zero `Py_buffer` is a valid value (null pointers, zero sizes) for
        // `PyObject_GetBuffer` to fill.
        let mut view: pyo3::ffi::Py_buffer = unsafe { std::mem::zeroed() };
        let mut target = Target::new(b, &mut view)?;
        let len = target.len();
        if len == 0 {
            return Ok(0);
        }
        let kind = if exact {
            ReadKind::Exact(len)
        } else {
            ReadKind::Available(len)
        };
        self.blocking_read(py, kind, "readinto()", |slices| {
            slices.copy_to_slice(target.as_mut_slice(py));
            Ok(slices.len())
        })
    }
}

#[pymethods]
impl PyBuffer {
    /// A new, empty buffer; `content_length` (bytes expected) and `max_buffered` (bounded
    /// mode: at most this many unread bytes held) as in the core's `Options`.
    #[new]
    #[pyo3(signature = (content_length=None, *, max_buffered=None))]
    fn new(content_length: Option<i64>, max_buffered: Option<i64>) -> PyResult<Self> {
        let mut options = Options::new();
        if let Some(length) = content_length {
            let length = u64::try_from(length).map_err(|_| {
                PyValueError::new_err(format!(
                    "content_length must be a non-negative integer or None, not {length}"
                ))
            })?;
            options = options.content_length(length);
        }
        if let Some(bound) = max_buffered {
            let bound = usize::try_from(bound)
                .ok()
                .filter(|&b| b > 0)
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "max_buffered must be a positive integer or None, not {bound}"
                    ))
                })?;
            options = options.max_buffered(bound);
        }
        let (writer, reader) = channel(options);
        Ok(Self::with_writer(reader, writer))
    }

    /// A closed buffer holding `data` (a `bytes` object is kept by reference, without a copy;
    /// other bytes-like objects are copied).
    #[classmethod]
    fn from_bytes(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let (writer, reader) = channel(Options::new());
        match data.cast_exact::<PyBytes>() {
            Ok(bytes) => {
                writer.try_write_bytes(&mut adopt(bytes)).map_err(to_py)?;
            }
            Err(_) => {
                let source = ByteSource::new(data, "data")?;
                writer.try_write(source.as_slice(py)).map_err(to_py)?;
            }
        }
        writer.close().map_err(to_py)?;
        Ok(Self::from_reader(reader))
    }

    /// The seed's test helper, kept so that its test suites run against this buffer: one holding
    /// `data` (any bytes-like object, copied) and still open for writing; a negative
    /// `content_length` (the seed's default, -1) means none.
    #[classmethod]
    #[pyo3(
        name = "_test_create",
        signature = (data=None, content_length=-1),
        text_signature = "($cls, data=None, content_length=-1)"
    )]
    fn test_create(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        data: Option<&Bound<'_, PyAny>>,
        content_length: i64,
    ) -> PyResult<Self> {
        let buffer = Self::new((content_length >= 0).then_some(content_length), None)?;
        if let Some(data) = data {
            let source = ByteSource::new(data, "data")?;
            let held = buffer.held();
            let writer = held.as_ref().expect("a new buffer holds its writer");
            writer.try_write(source.as_slice(py)).map_err(to_py)?;
        }
        Ok(buffer)
    }

    /// The producer handle: the first call hands over the buffer's own writer, later calls
    /// return new handles. The body aborts when the last handle is dropped unclosed.
    fn writer(&self) -> BufferWriter {
        let held = self.held().take();
        BufferWriter::new(held.unwrap_or_else(|| self.reader.writer()))
    }

    /// Reads `size` bytes (all of them unless the body ends first), or everything up to EOF.
    #[pyo3(signature = (size=-1), text_signature = "($self, size=-1)")]
    fn read<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let kind = match args::size(size, "size")? {
            None => ReadKind::ToEnd,
            Some(n) => ReadKind::Exact(n),
        };
        let read = self.read_bytes(py, kind, "read()");
        wake_trace::mark(wake_trace::Point::Returned);
        read
    }

    /// Reads between 1 and `size` bytes (all that are there for -1), waiting only while none
    /// are; empty at EOF.
    #[pyo3(signature = (size=-1), text_signature = "($self, size=-1)")]
    fn read1<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let n = args::size(size, "size")?.unwrap_or(usize::MAX);
        self.read_bytes(py, ReadKind::Available(n), "read1()")
    }

    /// Reads up to `size` of the bytes already there without waiting (empty if none).
    #[pyo3(signature = (size=-1), text_signature = "($self, size=-1)")]
    fn read_nonblock<'py>(
        &self,
        py: Python<'py>,
        size: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let n = args::size(size, "size")?.unwrap_or(usize::MAX);
        self.read_bytes(py, ReadKind::Immediate(n), "read_nonblock()")
    }

    /// Reads into `b` until it is full or the body ends; returns the number of bytes read.
    fn readinto(&self, py: Python<'_>, b: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.read_into(py, b, true)
    }

    /// Reads into `b` what is there (at least 1 byte unless EOF), waiting only while nothing
    /// is; returns the number of bytes read.
    fn readinto1(&self, py: Python<'_>, b: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.read_into(py, b, false)
    }

    /// Unread bytes without consuming them: up to `size` (all that are there for `size` <= 0),
    /// waiting only while none are; empty at EOF.
    #[pyo3(signature = (size=0))]
    fn peek<'py>(&self, py: Python<'py>, size: isize) -> PyResult<Bound<'py, PyBytes>> {
        let n = if size <= 0 { usize::MAX } else { size as usize };
        // One copy into the new `bytes`, straight from the blocks; a failed allocation is a
        // `MemoryError` (a joined copy in Rust would abort).
        let build = |slices: Slices<'_>| bytes_from_slices(py, &slices);
        if let Some(result) = self.reader.try_peek_with(n, build) {
            return result.map_err(to_py)?;
        }
        let deadline = deadline(self.timeout());
        let mut ready = self.reader.ready(ReadKind::Available(n));
        loop {
            park(py, &mut ready, deadline, "peek()")?;
            if let Some(result) = self.reader.try_peek_with(n, build) {
                return result.map_err(to_py)?;
            }
        }
    }

    // Calls without keywords and with no argument, `None` or an `int` go through the raw
    // method `crate::lines` installs in place of this one (same read); all others come here.
    /// Reads one line (through `\n`), at most `size` bytes; the rest of the body at EOF.
    #[pyo3(signature = (size=-1), text_signature = "($self, size=-1)")]
    fn readline<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        self.read_line(py, args::size(size, "size")?)
    }

    /// Reads lines until their total reaches `hint` bytes (every line for `hint` <= 0).
    #[pyo3(signature = (hint=-1), text_signature = "($self, hint=-1)")]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<isize>) -> PyResult<Bound<'py, PyList>> {
        let hint = match hint {
            Some(h) if h > 0 => h as usize,
            _ => 0,
        };
        let lines = self.blocking_read(py, ReadKind::Lines { hint }, "readlines()", |slices| {
            // Every allocation may fail (`MemoryError`, nothing taken): no Rust allocation
            // that would abort.
            let mut all = Vec::new();
            all.try_reserve_exact(slices.len())
                .map_err(|_| PyMemoryError::new_err(()))?;
            slices.for_each(|piece| all.extend_from_slice(piece));
            let mut lines = Vec::new();
            let mut push = |line: &[u8]| -> PyResult<()> {
                lines
                    .try_reserve(1)
                    .map_err(|_| PyMemoryError::new_err(()))?;
                lines.push(PyBytes::new_with(py, line.len(), |b| {
                    b.copy_from_slice(line);
                    Ok(())
                })?);
                Ok(())
            };
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', &all) {
                push(&all[start..=end])?;
                start = end + 1;
            }
            if start < all.len() {
                push(&all[start..])?;
            }
            Ok(lines)
        })?;
        PyList::new(py, lines)
    }

    /// Number of bytes that can be read without waiting.
    fn readable_amount(&self) -> usize {
        self.reader.readable_amount()
    }

    /// True once every byte was read and no more can come.
    fn at_eof(&self) -> bool {
        self.reader.at_eof()
    }

    /// Moves the read position within the bytes written (`SEEK_END` only once the body ended);
    /// returns the new position.
    #[pyo3(signature = (offset, whence=None), text_signature = "($self, offset, whence=0)")]
    fn seek(&self, offset: i64, whence: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        let invalid = |whence: &dyn std::fmt::Display| {
            PyValueError::new_err(format!("invalid whence ({whence}, should be 0, 1 or 2)"))
        };
        // Any int is a whence; one too large for a machine integer is an invalid one
        // (ValueError, as `io.BytesIO` says for 2**31), not an `OverflowError`.
        let Some(whence) = whence else {
            return self
                .reader
                .seek(SeekFrom::Start(non_negative(offset)?))
                .map_err(to_py);
        };
        let whence: i64 = match whence.extract() {
            Ok(w) => w,
            Err(_) if whence.is_instance_of::<pyo3::types::PyInt>() => {
                return Err(invalid(whence));
            }
            Err(e) => return Err(e),
        };
        let to = match whence {
            0 => SeekFrom::Start(non_negative(offset)?),
            1 => SeekFrom::Current(offset),
            2 => SeekFrom::End(offset),
            _ => return Err(invalid(&whence)),
        };
        self.reader.seek(to).map_err(to_py)
    }

    /// The read position.
    fn tell(&self) -> u64 {
        self.reader.tell()
    }

    /// Where `sub` first occurs in the unread bytes `[start:end]` (slice semantics, relative to
    /// the read position, as `bytes.find`: `None` or any integer, clamped), or -1. Never waits.
    #[pyo3(signature = (sub, start=None, end=None))]
    fn find(
        &self,
        py: Python<'_>,
        sub: &Bound<'_, PyAny>,
        start: Option<&Bound<'_, PyAny>>,
        end: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<isize> {
        let start = args::slice_index(start, "start")?;
        let end = args::slice_index(end, "end")?;
        let needle = ByteSource::new(sub, "sub")?;
        let needle = needle.as_slice(py);
        let unread = self.reader.readable_amount() as isize;
        let clamp = |i: isize| {
            if i < 0 {
                i.saturating_add(unread).max(0)
            } else {
                i
            }
        } as usize;
        let start = clamp(start.unwrap_or(0));
        let end = end.map(clamp);
        Ok(self
            .reader
            .find(needle, start, end)
            .map_or(-1, |at| at as isize))
    }

    /// Sets the timeout of blocking reads in seconds (`None` or `inf`: wait forever).
    fn settimeout(&self, timeout: Option<f64>) -> PyResult<()> {
        args::timeout(timeout)?;
        let bits = timeout.map_or(NO_TIMEOUT, f64::to_bits);
        self.timeout_bits.store(bits, Ordering::Relaxed);
        Ok(())
    }

    /// The timeout of blocking reads in seconds as set (`inf` stays `inf`), or `None`.
    fn gettimeout(&self) -> Option<f64> {
        self.timeout_secs()
    }

    /// Does nothing (a read-only binary stream has nothing to flush); `io.TextIOWrapper` and
    /// `io.BufferedReader` call it when they close.
    fn flush(&self) {}

    /// Reads everything up to EOF (`io.RawIOBase.readall`, used by `io.BufferedReader.read()`).
    fn readall<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.read_bytes(py, ReadKind::ToEnd, "readall()")
    }

    /// Always True.
    fn readable(&self) -> bool {
        true
    }

    /// Always False: the producer writes through `writer()`.
    fn writable(&self) -> bool {
        false
    }

    /// Always True (within the bytes written and still held).
    fn seekable(&self) -> bool {
        true
    }

    /// Always False.
    fn isatty(&self) -> bool {
        false
    }

    /// There is no file descriptor: raises `io.UnsupportedOperation`.
    fn fileno(&self) -> PyResult<i32> {
        Err(crate::errors::UnsupportedOperation::new_err(
            "PyBuffer has no file descriptor",
        ))
    }

    /// Not writable here (the producer writes through `writer()`): raises
    /// `io.UnsupportedOperation`, as `io.BufferedIOBase`'s read-only objects do.
    #[pyo3(signature = (*args))]
    fn truncate(&self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        let _ = args;
        Err(read_only("truncate"))
    }

    /// Not writable here: raises `io.UnsupportedOperation` (see `truncate`).
    #[pyo3(signature = (*args))]
    fn write(&self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        let _ = args;
        Err(read_only("write (write through writer())"))
    }

    /// Not writable here: raises `io.UnsupportedOperation` (see `truncate`).
    #[pyo3(signature = (*args))]
    fn writelines(&self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        let _ = args;
        Err(read_only("writelines (write through writer())"))
    }

    /// There is no raw stream underneath: raises `io.UnsupportedOperation`.
    fn detach(&self) -> PyResult<()> {
        Err(crate::errors::UnsupportedOperation::new_err(
            "PyBuffer has no raw stream to detach",
        ))
    }

    /// True once `close()` was called.
    #[getter(closed)]
    fn reader_closed(&self) -> bool {
        self.reader.info().reader_closed
    }

    /// Marks the reader done: writes fail from now on, blocked readers wake; reads return what
    /// remains and then `b""`.
    fn close(&self) {
        self.reader.close();
    }

    fn __len__(&self) -> usize {
        self.reader.readable_amount()
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next line; the type's `tp_iternext` is [`crate::lines`]'s, which reads the same
    /// way without PyO3's trampoline.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.next_line(py)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        let info = self.reader.info();
        format!(
            "<py_buffer.PyBuffer position={} unread={} ended={} closed={}>",
            info.position, info.unread, info.ended, info.reader_closed
        )
    }

    /// Exports the unread bytes, as they are now, as a read-only 1-D buffer of unsigned bytes.
    ///
    /// # Safety
    /// `view` must be a valid `Py_buffer` to fill (CPython's buffer protocol guarantees it).
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        use pyo3::ffi;
        if view.is_null() {
            return Err(PyBufferError::new_err("view is null"));
        }
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("PyBuffer exports are read-only"));
        }
        let data = Box::new(
            slf.get()
                .reader
                .try_snapshot()
                .ok_or_else(|| PyMemoryError::new_err(()))?,
        );
        let len = data.len() as ffi::Py_ssize_t;
        // SAFETY: `view` is non-null and, per the buffer protocol, points to a `Py_buffer` we
        // may fill. `buf` points into `data`, an immutable `Bytes` whose memory never moves or
        // changes; it is kept alive in `internal` until `__releasebuffer__`. `shape` and
        // `strides` point into the view itself, as the protocol allows. `obj` takes a strong
        // reference to the exporter, as required.
        unsafe {
            (*view).buf = data.as_ptr() as *mut std::ffi::c_void;
            (*view).len = len;
            (*view).readonly = 1;
            (*view).itemsize = 1;
            (*view).format = if flags & ffi::PyBUF_FORMAT == ffi::PyBUF_FORMAT {
                c"B".as_ptr() as *mut std::ffi::c_char
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = 1;
            (*view).shape = if flags & ffi::PyBUF_ND == ffi::PyBUF_ND {
                &mut (*view).len
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
                &mut (*view).itemsize
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = Box::into_raw(data).cast();
            (*view).obj = slf.into_any().into_ptr();
        }
        Ok(())
    }

    /// Releases an export made by `__getbuffer__`.
    ///
    /// # Safety
    /// `view` must be a view filled by `__getbuffer__` (CPython guarantees it).
    unsafe fn __releasebuffer__(&self, view: *mut pyo3::ffi::Py_buffer) {
        // SAFETY: `__getbuffer__` stored a `Box<Bytes>` in `internal`, and CPython releases
        // each view exactly once.
        drop(unsafe { Box::from_raw((*view).internal.cast::<Bytes>()) });
    }
}

/// The error of a writing `io` method on a `PyBuffer` (`io.UnsupportedOperation`, as
/// `io.BufferedIOBase`'s read-only objects raise), naming the operation.
fn read_only(op: &str) -> PyErr {
    crate::errors::UnsupportedOperation::new_err(format!("PyBuffer is read-only: {op}"))
}
