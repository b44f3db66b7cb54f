"""ASGI: a `PyBuffer` as the ``receive`` callable of an HTTP connection.

>>> import asyncio, py_buffer
>>> buf = py_buffer.PyBuffer.from_bytes(b"name=value")
>>> receive = py_buffer.asgi.receive(buf)
>>> asyncio.run(receive())
{'type': 'http.request', 'body': b'name=value', 'more_body': False}

The server writes the request body into the buffer (from any thread, from Rust or from Erlang)
and hands ``receive`` to the application. ``receive()`` returns ``http.request`` messages as the
body arrives (at most `chunk_size` bytes each, as soon as there are any); once the body is
complete it waits, without polling, until the request ends — the server closes the reader
(``buf.close()``) or the producer aborts — and then returns ``http.disconnect``, as the ASGI
spec asks. A body that fails (client gone: `BodyAborted`; shorter than its Content-Length:
`BodyTruncated`) ends with ``http.disconnect`` after the bytes that did arrive, so frameworks
raise their own disconnect error (Starlette's ``ClientDisconnect``, Django's
``RequestAborted``) instead of seeing a short body. Cancelling a ``receive()`` propagates
``CancelledError`` and consumes nothing.
"""

from typing import Any, Awaitable, Callable, Dict

from ._native import DEFAULT_CHUNK_SIZE, BodyAborted, BodyTruncated, PyBuffer

__all__ = ["receive"]

Message = Dict[str, Any]

_DISCONNECT: Message = {"type": "http.disconnect"}


def receive(
    buf: PyBuffer, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Callable[[], Awaitable[Message]]:
    """An ASGI ``receive`` callable that reads the request body from `buf`."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive integer, not {chunk_size}")
    body_done = False
    disconnected = False

    async def receive() -> Message:
        nonlocal body_done, disconnected
        if disconnected:
            return dict(_DISCONNECT)
        if body_done:
            await buf.wait_hangup()
            disconnected = True
            return dict(_DISCONNECT)
        try:
            chunk = await buf.aread1(chunk_size)
        except (BodyAborted, BodyTruncated):
            disconnected = True
            return dict(_DISCONNECT)
        more = True
        if buf.at_eof():
            # `at_eof` is also true for a failed body, and a reader closed by the server
            # mid-body ends it early: both must end in a disconnect, not a short body.
            if buf.closed:
                more = bool(chunk)
                if not chunk:
                    disconnected = True
                    return dict(_DISCONNECT)
            else:
                try:
                    buf.read_nonblock(1)  # b"" at a clean end; raises for a failed one
                    more = False
                except (BodyAborted, BodyTruncated):
                    more = True  # the next receive() reports the disconnect
        body_done = not more
        return {"type": "http.request", "body": chunk, "more_body": more}

    return receive
