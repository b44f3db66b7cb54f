"""A PEP 3333 server adapter: runs a WSGI app for one request on the calling thread.

>>> import py_buffer
>>> from py_buffer.wsgi import WsgiAdapter
>>> def app(environ, start_response):
...     start_response("200 OK", [("Content-Type", "text/plain")])
...     return [b"hello ", environ["wsgi.input"].read()]
>>> class Show:
...     def start(self, status, headers, body, more): print(status, headers, body, more)
...     def finish(self, body_consumed): print("finish", body_consumed)
>>> WsgiAdapter(app)({"method": "POST", "path": b"/"}, py_buffer.PyBuffer.from_bytes(b"you"), Show())
200 [(b'Content-Type', b'text/plain')] b'hello you' False
finish True

The server gives a request description (`RequestHead`), the request body buffer (``wsgi.input``)
and a `Responder`. The head is sent with the first non-empty body chunk, or at the end
(PEP 3333); a result that is a list or tuple (a whole body, up to ``whole_max`` bytes) goes
in that one ``start`` message, anything else streams through the responder's body writer,
whose writes wait (GIL released) while the server's buffer is full. ``close()`` of the result
is called exactly once, also when the client leaves: a write then raises `BrokenPipeError`,
iteration stops, the response is failed. After the end message the request body's reader is
closed (the server's writes into it then fail: nobody reads them). ``start_response`` follows the ``exc_info`` rules
(re-raise once the head is sent, replace it before). ``wsgi.file_wrapper`` is `FileWrapper`:
the file is read in large blocks and each block written as it is read.
"""

from __future__ import annotations

import io
from types import TracebackType
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Type

from ._native import BufferWriter, PyBuffer
from .failures import LOG, report
from .fields import Status, checked_header, checked_phrase, checked_status
from .responder import Headers, RequestHead, Responder
from .wsgi_environ import build_environ

__all__ = ["FileWrapper", "WsgiAdapter", "WHOLE_MAX"]

#: A list/tuple result up to this many bytes goes in the ``start`` message.
WHOLE_MAX = 1 << 20

#: `FileWrapper` reads at least this much per block.
FILE_BLOCK = 1 << 16

ExcInfo = Tuple[Type[BaseException], BaseException, Optional[TracebackType]]
WsgiApp = Callable[[Dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class FileWrapper:
    """``wsgi.file_wrapper``: iterates a file in blocks; ``close()`` closes it."""

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> "FileWrapper":
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return bytes(data)
        raise StopIteration

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


def _status(status: Any) -> int:
    """The code of a WSGI status line; with its phrase (`Status`) when it has one."""
    if not isinstance(status, str):
        raise TypeError(f"status must be a str, not {type(status).__name__}")
    if len(status) < 3 or not status[:3].isdigit() or status[3:4] not in ("", " "):
        raise ValueError(f"status must look like '200 OK', not {status!r}")
    code = checked_status(int(status[:3]))
    phrase = checked_phrase(status[4:])
    return Status(code, phrase) if phrase else code


def _headers(headers: Any) -> Headers:
    if not isinstance(headers, list):
        raise TypeError(f"response headers must be a list, not {type(headers).__name__}")
    out = []
    for item in headers:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"a response header must be a (name, value) tuple, not {item!r}")
        name, value = item
        if not (isinstance(name, str) and isinstance(value, str)):
            raise TypeError(f"header names and values must be str, not {item!r}")
        out.append(checked_header(name.encode("latin-1"), value.encode("latin-1")))
    return out


class _Response:
    """One request's response state: ``start_response``, ``write``, and the head."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.pending: Optional[Tuple[int, Headers]] = None
        self.started = False
        self.writer: Optional[BufferWriter] = None

    def start_response(
        self, status: str, headers: List[Tuple[str, str]], exc_info: Optional[ExcInfo] = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no cycle through the traceback
        elif self.pending is not None:
            raise AssertionError("start_response() called again without exc_info")
        self.pending = (_status(status), _headers(headers))
        return self.write

    def head(self) -> Tuple[int, Headers]:
        if self.pending is None:
            raise AssertionError("the app sent a body before calling start_response()")
        return self.pending

    def write(self, data: bytes) -> None:
        """The ``write`` callable (and the streaming path): sends the head first."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"body chunks must be bytes, not {type(data).__name__}")
        if not data:
            return
        if self.writer is None:
            status, headers = self.head()
            self.responder.start(status, headers, None, True)
            self.started = True
            self.writer = self.responder.body_writer()
        self.writer.write(data)

    def whole(self, body: bytes) -> None:
        """The whole response in one ``start`` message."""
        status, headers = self.head()
        self.responder.start(status, headers, body, False)
        self.started = True


class WsgiAdapter:
    """Serves requests with a WSGI app: ``adapter(request, body, responder)``, on the calling
    thread (blocking until the response is finished or failed)."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        multiprocess: bool = False,
        whole_max: int = WHOLE_MAX,
        errors: Optional[io.TextIOBase] = None,
    ) -> None:
        self.app = app
        self.multiprocess = multiprocess
        self.whole_max = whole_max
        self.errors = errors

    def environ(self, request: Any, body: PyBuffer) -> Dict[str, Any]:
        """The environ of one request (``request``: a `RequestHead` or a mapping)."""
        environ = build_environ(
            RequestHead.from_mapping(request),
            body,
            errors=self.errors,
            multiprocess=self.multiprocess,
        )
        environ["wsgi.file_wrapper"] = FileWrapper
        return environ

    def __call__(self, request: Any, body: PyBuffer, responder: Responder) -> None:
        environ = self.environ(request, body)
        response = _Response(responder)
        error: Optional[BaseException] = None
        result: Any = None
        try:
            result = self.app(environ, response.start_response)
            self._transmit(result, response)
        except BaseException as exc:  # reported below; re-raised if not an Exception
            error = exc
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException as exc:
                    if error is None and not response.started:
                        error = exc
                    else:
                        LOG.error("close() of the app's result raised", exc_info=exc)
        consumed = body.at_eof()
        try:
            if error is None:
                responder.finish(consumed)
            else:
                report(responder, error, response.started, consumed)
        finally:
            body.close()  # nobody reads the request body any more: its writer stops
        if error is not None and not isinstance(error, Exception):
            raise error  # KeyboardInterrupt, SystemExit: the worker decides

    def _transmit(self, result: Iterable[bytes], response: _Response) -> None:
        if isinstance(result, (list, tuple)) and response.writer is None:
            if all(isinstance(c, bytes) for c in result):
                if sum(len(c) for c in result) <= self.whole_max:
                    response.whole(b"".join(result))
                    return
        if isinstance(result, FileWrapper):
            self._transmit_file(result, response)
            return
        for chunk in result:
            response.write(chunk)
        if response.writer is None:
            response.whole(b"")

    def _transmit_file(self, wrapper: FileWrapper, response: _Response) -> None:
        block = max(wrapper.blksize, FILE_BLOCK)
        read = wrapper.filelike.read
        first = bytes(read(block))
        if len(first) < block:
            second = bytes(read(block)) if first else b""
            if not second:
                response.whole(first)  # a small file: one message
                return
            response.write(first)
            first = second
        while first:
            response.write(first)
            first = bytes(read(block))
        if response.writer is None:
            response.whole(b"")
