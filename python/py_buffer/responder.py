"""The server-neutral interface between an HTTP server and the WSGI / ASGI adapters.

A server describes a request with a mapping (`RequestHead.from_mapping`), writes the request
body into a `PyBuffer`, and gives the adapter a `Responder`: the one object through which the
response leaves. The adapters never know which server (or language) is on the other side.

A response is, in order:

1. exactly one ``start(status, headers, body, more)``: the head. With ``more=False`` the whole
   response is in ``body`` (one message, no buffer involved: small whole responses); with
   ``more=True`` ``body`` is ``None`` and the body follows through ``body_writer()``.
2. with ``more=True``: the body, written into ``body_writer()`` (a `BufferWriter` of a bounded
   `PyBuffer` the server reads; writes wait while it is full, so memory stays bounded).
3. exactly one ``finish(body_consumed)`` (clean end: the responder closes its writer) or
   ``fail(exc)`` (the response broke off after ``start``: the responder aborts its writer and
   the server closes the connection). ``body_consumed`` is false when the app returned
   without reading its request body to the end (the server may then drain or discard it,
   or close the connection instead of keeping it alive).

An app that fails before ``start`` gets a plain 500 response (``start`` + ``finish``). When the
client leaves, the server aborts the request body (``BufferWriter.abort``) and closes the
response buffer's reader (``PyBuffer.close``): the app's body reads raise `BodyAborted` (ASGI:
``http.disconnect``) and its response writes raise `BrokenPipeError`.

`ChannelResponder` is the ready-made responder over the two things an embedding server has: a
response `PyBuffer` and a ``send(message)`` callable (the Erlang request API passes a function
that sends the message to the request's process). Its messages are tuples:

- ``("start", status: int | (int, str), headers: list[tuple[bytes, bytes]], body: bytes | None,
  more: bool)``: the status is ``(code, phrase)`` when the app gave a reason phrase (a WSGI
  status line; `py_buffer.fields.Status`)
- ``("finish", body_consumed: bool)``
- ``("fail", reason: str)``
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, List, Mapping, Optional, Protocol, Tuple, Union

from ._native import BufferWriter, PyBuffer

__all__ = ["ChannelResponder", "Headers", "RequestHead", "Responder"]

Headers = List[Tuple[bytes, bytes]]


class Responder(Protocol):
    """What a server gives an adapter for one request's response (see the module doc)."""

    def start(self, status: int, headers: Headers, body: Optional[bytes], more: bool) -> None:
        """The head; with ``more=False`` also the whole body (``None`` meaning empty).
        ``status`` may carry the app's reason phrase (`py_buffer.fields.Status`, an
        ``int``)."""

    def body_writer(self) -> BufferWriter:
        """The response channel: the writer of a bounded buffer the server reads."""

    def finish(self, body_consumed: bool) -> None:
        """The response is complete; ``body_consumed``: the app read its request body to
        the end."""

    def fail(self, exc: BaseException) -> None:
        """The response broke off after ``start`` (app error, client gone)."""


def _bytes(value: Union[str, bytes, bytearray, memoryview]) -> bytes:
    """A byte string from a description value (a ``str`` is taken as UTF-8, which is how the
    Erlang bridge turns valid UTF-8 binaries into ``str``)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def _text(value: Union[str, bytes, bytearray, memoryview]) -> str:
    if isinstance(value, str):
        return value
    return bytes(value).decode("latin-1")


def _address(value: Any) -> Optional[Tuple[str, int]]:
    if value is None:
        return None
    host, port = value
    return (_text(host), int(port))


@dataclass
class RequestHead:
    """A request as the adapters need it (HTTP server neutral).

    - ``method``: ``"GET"``..., as sent (methods are case-sensitive, RFC 9110 §9.1);
      ``path``: the raw request path, still percent-encoded, without the query
      (``b"/a%20b"``); ``query_string``: the raw bytes after ``?``.
    - ``http_version``: ``"1.0"``, ``"1.1"`` or ``"2"``; ``scheme``: ``"http"`` / ``"https"``.
    - ``headers``: ``(name, value)`` byte pairs in arrival order, names in any case.
    - ``client`` / ``server``: ``(host, port)`` or ``None``; ``root_path``: the mount point
      (WSGI ``SCRIPT_NAME``, ASGI ``root_path``), a decoded ``str``.
    - ``websocket``: the server checked a WebSocket opening handshake and speaks the protocol
      (ASGI: a ``websocket`` scope, `py_buffer.asgi_websocket`).
    """

    method: str = "GET"
    path: bytes = b"/"
    query_string: bytes = b""
    http_version: str = "1.1"
    headers: Headers = field(default_factory=list)
    scheme: str = "http"
    client: Optional[Tuple[str, int]] = None
    server: Optional[Tuple[str, int]] = None
    root_path: str = ""
    websocket: bool = False

    @classmethod
    def from_mapping(cls, request: Mapping[str, Any]) -> "RequestHead":
        """Normalises a description (from Erlang: a map with those keys, values ``str`` or
        ``bytes``; ``client``/``server`` as 2-tuples or lists). A ``RequestHead`` passes
        through."""
        if isinstance(request, RequestHead):
            return request
        headers = [(_bytes(k), _bytes(v)) for k, v in request.get("headers", ())]
        return cls(
            method=_text(request.get("method", "GET")),
            path=_bytes(request.get("path", b"/")) or b"/",
            query_string=_bytes(request.get("query_string", b"")),
            http_version=_text(request.get("http_version", "1.1")),
            headers=headers,
            scheme=_text(request.get("scheme", "http")),
            client=_address(request.get("client")),
            server=_address(request.get("server")),
            root_path=_text(request.get("root_path", "")),
            websocket=bool(request.get("websocket", False)),
        )


class ChannelResponder:
    """A `Responder` that reports through ``send(message)`` and streams through ``response``
    (a bounded `PyBuffer` the server reads). Thread-safe; messages as in the module doc."""

    def __init__(self, send: Callable[[Any], Any], response: PyBuffer) -> None:
        self._send = send
        self._response = response
        self._writer: Optional[BufferWriter] = None
        self._lock = threading.Lock()

    def start(self, status: int, headers: Headers, body: Optional[bytes], more: bool) -> None:
        phrase = getattr(status, "phrase", None)
        code = int(status) if phrase is None else (int(status), phrase.encode("latin-1"))
        self._send(("start", code, headers, body, more))

    def body_writer(self) -> BufferWriter:
        with self._lock:
            if self._writer is None:
                self._writer = self._response.writer()
            return self._writer

    def finish(self, body_consumed: bool) -> None:
        writer = self._writer
        if writer is not None:
            try:
                writer.close()
            except (OSError, ValueError):
                pass  # the server's reader left or the body was aborted: nothing to end
        self._send(("finish", body_consumed))

    def fail(self, exc: BaseException) -> None:
        writer = self._writer
        if writer is not None:
            try:
                writer.abort(repr(exc))
            except (OSError, ValueError):
                pass  # already ended
        self._send(("fail", repr(exc)))
