"""The seed's asyncio examples: reading a buffer without blocking the event loop.

`read_buffer_async` and `process_wsgi_body_async` are the seed's code as written (polling
with ``read_nonblock`` and ``asyncio.sleep(0.001)``). `read_with_notification` is the seed's
"production" variant: the ``notify_channel`` it awaits is `ReadyChannel` here, which waits on
the buffer itself (``wait_readable()``: the event loop is woken when Erlang writes, with no
polling and without the writer ever taking the GIL). `read_awaiting` is the same loop written
with the awaitable reads of `py_buffer` (``achunks``).
"""

import asyncio
import json

from erlang import PyBuffer


async def read_buffer_async(buf):
    """Read from buffer without blocking the event loop."""
    chunks = []
    while not buf.at_eof():
        available = buf.readable_amount()
        if available > 0:
            # Read available data
            chunk = buf.read_nonblock(4096)
            chunks.append(chunk)
        else:
            # Yield to event loop, check again soon
            await asyncio.sleep(0.001)
    return b''.join(chunks)


async def process_wsgi_body_async(environ):
    """Process WSGI body in async context."""
    buf = environ['wsgi.input']
    # Read body without blocking
    body = await read_buffer_async(buf)
    return json.loads(body)


class ReadyChannel:
    """The seed's ``notify_channel``: ``async_receive()`` returns once the buffer is readable."""

    def __init__(self, buf: PyBuffer):
        self.buf = buf

    async def async_receive(self):
        await self.buf.wait_readable()


async def read_with_notification(buf, notify_channel):
    """Read using Erlang channel for data-ready notifications."""
    chunks = []
    while not buf.at_eof():
        available = buf.readable_amount()
        if available > 0:
            chunk = buf.read_nonblock(available)
            chunks.append(chunk)
        else:
            # Wait for Erlang to signal data is ready
            await notify_channel.async_receive()
    return b''.join(chunks)


async def read_awaiting(buf):
    """The same loop with py_buffer's awaitable reads."""
    chunks = []
    async for chunk in buf.achunks(65536):
        chunks.append(chunk)
    return b''.join(chunks)


def run(environ, how):
    """Entry point for ``py:call``: runs one of the readers in a fresh event loop."""
    buf = environ['wsgi.input']
    if how == 'poll':
        return asyncio.run(process_wsgi_body_async(environ))
    if how == 'notify':
        return json.loads(asyncio.run(read_with_notification(buf, ReadyChannel(buf))))
    return json.loads(asyncio.run(read_awaiting(buf)))
