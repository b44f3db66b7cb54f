"""What an app failure becomes: a 500 before the head was sent, an aborted response after.

Both adapters end every request with exactly one ``finish`` or ``fail`` on the responder. An
exception before ``start`` becomes a plain 500 response (``start`` + ``finish``); after it, the
response is broken off (``fail``: the server closes the connection). App errors are logged with
their traceback on the ``py_buffer.serve`` logger; a client that left (`BrokenPipeError` from
the response channel, `BodyAborted` from the request body) is logged at debug level only.
"""

from __future__ import annotations

import logging

from ._native import BodyAborted
from .responder import Headers, Responder

__all__ = ["LOG", "client_gone", "internal_error", "report"]

LOG = logging.getLogger("py_buffer.serve")

_BODY = b"Internal Server Error"
_HEADERS: Headers = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_BODY)).encode()),
]


def client_gone(exc: BaseException) -> bool:
    """Whether `exc` says the client left (not an app error)."""
    return isinstance(exc, (BrokenPipeError, ConnectionError, BodyAborted))


def internal_error(responder: Responder, body_consumed: bool) -> None:
    """Answers 500 in one message."""
    responder.start(500, list(_HEADERS), _BODY, False)
    responder.finish(body_consumed)


def report(
    responder: Responder, exc: BaseException, started: bool, body_consumed: bool, gone: bool = False
) -> None:
    """Ends a request whose app raised `exc`: 500 if nothing was sent yet, else ``fail``.
    ``gone``: the adapter already saw the client leave (an ASGI ``http.disconnect`` before the
    response was complete), so whatever the app raised is not logged as its error."""
    if gone or client_gone(exc):
        # Nobody reads a 500 any more; the server still gets its one end message.
        LOG.debug("client gone: %r", exc)
        responder.fail(exc)
        return
    when = "after the response head" if started else "before the response head"
    LOG.error("app raised %s", when, exc_info=exc)
    if started:
        responder.fail(exc)
    else:
        internal_error(responder, body_consumed)
