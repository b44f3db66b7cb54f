"""Test doubles of a server for the adapters: a `Client` is one request's server side.

It owns the request body buffer (fed by a producer thread, in given chunks) and the bounded
response buffer, and records what a `ChannelResponder` sends (``start``, ``finish``, ``fail``)
while a thread reads the response buffer, `read_size` bytes at a time, tracking the largest
unread amount it ever saw. `leave_after` makes the client close the response reader after that
many response bytes (a client that leaves mid-response); `body_end="abort"` aborts the request
body after its chunks (a client that leaves mid-body).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from py_buffer import BodyAborted, PyBuffer
from py_buffer.responder import ChannelResponder

from conftest import Producer


@dataclass
class Result:
    status: int
    headers: List[Tuple[bytes, bytes]]
    body: bytes
    more: bool
    end: str
    end_arg: Any
    #: The app's reason phrase (a WSGI status line's text), if it gave one.
    phrase: Optional[bytes] = None

    def header(self, name: bytes) -> Optional[bytes]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class Client:
    """One request as a server sees it (see the module doc)."""

    def __init__(
        self,
        body_chunks: Optional[List[bytes]] = None,
        *,
        content_length: Optional[int] = None,
        body_end: str = "close",
        bound: int = 64 * 1024,
        read_size: int = 64 * 1024,
        leave_after: Optional[int] = None,
        body_bound: Optional[int] = None,
    ) -> None:
        chunks = body_chunks or []
        self.body = PyBuffer(content_length, max_buffered=body_bound)
        self.producer = Producer(self.body.writer(), chunks, body_end)
        self.producer.start()
        self.bound = bound
        self.response = PyBuffer(max_buffered=bound)
        self.messages: List[tuple] = []
        self.ended = threading.Event()
        self.responder = ChannelResponder(self.send, self.response)
        self.read_size = read_size
        self.leave_after = leave_after
        self.streamed = bytearray()
        self.max_unread = 0
        self.reader_error: Optional[BaseException] = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def send(self, message: tuple) -> None:
        self.messages.append(message)
        if message[0] in ("finish", "fail"):
            self.ended.set()

    def _read(self) -> None:
        try:
            while True:
                self.max_unread = max(self.max_unread, len(self.response))
                chunk = self.response.read1(self.read_size)
                if not chunk:
                    return
                self.streamed += chunk
                if self.leave_after is not None and len(self.streamed) >= self.leave_after:
                    self.response.close()
                    return
        except BodyAborted as e:
            self.reader_error = e

    def result(self, timeout: float = 20) -> Result:
        """Waits for the end message, then for the response reader; the response as sent."""
        assert self.ended.wait(timeout), f"no finish/fail; messages: {self.messages}"
        starts = [m for m in self.messages if m[0] == "start"]
        ends = [m for m in self.messages if m[0] in ("finish", "fail")]
        assert len(ends) == 1, self.messages
        assert len(starts) <= 1, self.messages
        if not starts or not starts[0][4]:
            self.response.close()  # nothing streams: wake the reader
        self.reader.join(timeout)
        assert not self.reader.is_alive()
        self.producer.join(timeout)
        if not starts:
            return Result(0, [], b"", False, ends[0][0], ends[0][1])
        _, status, headers, body, more = starts[0]
        status, phrase = status if isinstance(status, tuple) else (status, None)
        data = bytes(self.streamed) if more else (body or b"")
        if more:
            assert body is None
        return Result(status, headers, data, more, ends[0][0], ends[0][1], phrase)
