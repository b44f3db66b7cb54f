"""Streaming byte buffers for WSGI input.

`PyBuffer` is a binary file-like object fed by a producer (a Python thread through
`PyBuffer.writer()`, Rust code, or an Erlang process) and read like ``wsgi.input``:

>>> import py_buffer
>>> buf = py_buffer.PyBuffer.from_bytes(b"a\\nb\\n")
>>> list(buf)
[b'a\\n', b'b\\n']

Reads block (with the GIL released) until they can be satisfied; a truncated or aborted body
raises `BodyTruncated` / `BodyAborted` (both `OSError`) once every byte that did arrive was
read, never a silently short body.

Serving apps (imported on demand): `py_buffer.wsgi` (PEP 3333), `py_buffer.asgi_app` (ASGI 3),
`py_buffer.lifespan`, `py_buffer.asgi_host`, `py_buffer.runner`, over the server-neutral
`py_buffer.responder.Responder`; `py_buffer.serve` holds the entry points a server calls.
"""

import io as _io

# Binds the attribute `py_buffer._native` even when the module was put in `sys.modules`
# beforehand (the Erlang NIF does that: its embedded interpreter uses the linked classes).
from . import _native as _native
from ._native import BodyAborted, BodyTruncated, BufferWriter, PyBuffer
from ._native import __version__ as __version__
from . import asgi  # asyncio/ASGI: py_buffer.asgi.receive(buf)

__all__ = ["BodyAborted", "BodyTruncated", "BufferWriter", "PyBuffer", "__version__"]

# A PyBuffer implements the BufferedIOBase reading interface (read, read1, readinto,
# readinto1, peek, readline, readlines, seek, tell, close, iteration, context manager).
_io.BufferedIOBase.register(PyBuffer)
