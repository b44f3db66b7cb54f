"""The ASGI ``websocket`` session (`py_buffer.asgi_websocket`) without a server: the records
in both buffers, the messages an app gets and may send, and the one end message of every
way a session ends. (The server's side is tested under HTTP in serve/tests.)"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

import pytest

from py_buffer import PyBuffer
from py_buffer.asgi_app import AsgiAdapter
from py_buffer.asgi_websocket import BYTES, CLOSE, TEXT, record
from py_buffer.responder import ChannelResponder


class Session:
    """One session's two buffers and the messages its responder sent."""

    def __init__(self, records: bytes = b"", end: Optional[str] = "close") -> None:
        self.body = PyBuffer()
        writer = self.body.writer()
        writer.write(records)
        if end == "close":
            writer.close()
        elif end == "abort":
            writer.abort("client gone")
        self.response = PyBuffer()
        self.messages: List[tuple] = []
        self.responder = ChannelResponder(self.messages.append, self.response)

    def run(self, app: Any, **head: Any) -> List[tuple]:
        request: Dict[str, Any] = {"path": b"/ws", "websocket": True, **head}
        asyncio.run(AsgiAdapter(app)(request, self.body, self.responder))
        return self.messages

    def sent_records(self) -> bytes:
        return self.response.read()


def test_messages_in_and_out_exactly():
    got: List[dict] = []

    async def app(scope, receive, send):
        got.append(scope)
        got.append(await receive())
        await send({"type": "websocket.accept", "subprotocol": "chat",
                    "headers": [(b"X-A", b"1")]})
        while (message := await receive())["type"] == "websocket.receive":
            got.append(message)
            await send({"type": "websocket.send", **{k: v for k, v in message.items()
                                                      if k in ("text", "bytes")}})
        got.append(message)

    s = Session(record(TEXT, "é".encode()) + record(BYTES, b"\x00" * 70000)
                + record(CLOSE, (4000).to_bytes(2, "big") + b"bye"))
    messages = s.run(app, headers=[(b"Sec-WebSocket-Protocol", b"x, chat"),
                                   (b"sec-websocket-protocol", b"y")],
                     query_string=b"q=1", scheme="https")
    scope = got[0]
    assert (scope["type"], scope["scheme"], scope["path"], scope["query_string"],
            scope["subprotocols"]) == ("websocket", "wss", "/ws", b"q=1", ["x", "chat", "y"])
    assert "method" not in scope
    assert got[1:] == [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "é"},
        {"type": "websocket.receive", "bytes": b"\x00" * 70000},
        {"type": "websocket.disconnect", "code": 4000, "reason": "bye"}]
    assert messages == [
        ("start", 101, [(b"x-a", b"1"), (b"sec-websocket-protocol", b"chat")], None, True),
        ("finish", True)]
    assert s.sent_records() == record(TEXT, "é".encode()) + record(BYTES, b"\x00" * 70000)


def test_disconnect_codes_and_repeats():
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        seen.append([await receive(), await receive()])

    for records, end, code in [(record(CLOSE, b""), "close", 1005), (b"", "close", 1006),
                               (record(TEXT, b"cut")[:6], "close", 1006), (b"", "abort", 1006)]:
        seen: List[list] = []
        Session(records, end).run(app)
        assert seen == [[{"type": "websocket.disconnect", "code": code, "reason": ""}] * 2]


def test_the_app_closes_and_a_send_after_the_clients_close_raises():
    raised: List[BaseException] = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await receive()  # the client's close
        try:
            await send({"type": "websocket.send", "text": "late"})
        except OSError as exc:
            raised.append(exc)
        await send({"type": "websocket.close", "code": 1000})

    s = Session(record(CLOSE, (1001).to_bytes(2, "big")))
    assert s.run(app)[-1] == ("finish", True)
    assert [type(e) for e in raised] == [BrokenPipeError]
    assert s.sent_records() == b""  # nothing after the client's close, not even our close

    async def closes(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4002, "reason": "done"})

    s = Session(end=None)
    s.run(closes)
    assert s.sent_records() == record(CLOSE, (4002).to_bytes(2, "big") + b"done")


@pytest.mark.parametrize("ending, status", [("close", 403), ("return", 403), ("raise", 500)])
def test_refusals_before_accepting(ending, status):
    async def app(scope, receive, send):
        await receive()
        if ending == "close":
            await send({"type": "websocket.close", "code": 1000})
        elif ending == "raise":
            raise RuntimeError("no")

    messages = Session().run(app)
    assert [m[:2] for m in messages] == [("start", status), ("finish", True)]


def test_an_app_that_raises_after_accepting_fails_the_session():
    async def app(scope, receive, send):
        await send({"type": "websocket.accept"})
        raise RuntimeError("broken")

    messages = Session(end=None).run(app)
    assert messages[0][:2] == ("start", 101)
    assert messages[1] == ("fail", "RuntimeError('broken')")


@pytest.mark.parametrize("messages, error", [
    ([{"type": "websocket.send", "text": "x"}], RuntimeError),             # before accept
    ([{"type": "websocket.accept"}, {"type": "websocket.accept"}], RuntimeError),
    ([{"type": "websocket.accept"}, {"type": "websocket.send"}], ValueError),
    ([{"type": "websocket.accept"}, {"type": "websocket.close", "code": 1005}], ValueError),
    ([{"type": "websocket.accept"}, {"type": "websocket.close"},
      {"type": "websocket.send", "text": "x"}], RuntimeError),
    ([{"type": "http.response.start", "status": 200}], ValueError),
])
def test_messages_out_of_place_raise(messages, error):
    raised: List[BaseException] = []

    async def app(scope, receive, send):
        try:
            for message in messages:
                await send(message)
        except Exception as exc:
            raised.append(exc)

    Session(end=None).run(app)
    assert [type(e) for e in raised] == [error]


def test_the_apps_own_http_answer_before_accepting():
    # The websocket.http.response extension (advertised): a status, headers and a body in
    # pieces, sent whole once complete.
    extensions: List[dict] = []

    async def app(scope, receive, send):
        extensions.append(scope["extensions"])
        await receive()
        await send({"type": "websocket.http.response.start", "status": 418,
                    "headers": [(b"x-why", b"tea")]})
        await send({"type": "websocket.http.response.body", "body": b"go ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"away"})

    assert Session().run(app) == [("start", 418, [(b"x-why", b"tea")], b"go away", False),
                                  ("finish", True)]
    assert extensions == [{"websocket.http.response": {}}]

    async def unfinished(scope, receive, send):
        await send({"type": "websocket.http.response.start", "status": 401})
        await send({"type": "websocket.http.response.body", "body": b"x", "more_body": True})

    assert [m[:2] for m in Session().run(unfinished)] == [("start", 500), ("finish", True)]

    raised: List[BaseException] = []

    async def accepts_after(scope, receive, send):
        await send({"type": "websocket.http.response.start", "status": 401})
        try:
            await send({"type": "websocket.accept"})
        except RuntimeError as exc:
            raised.append(exc)
        await send({"type": "websocket.http.response.body", "body": b""})

    assert [m[:2] for m in Session().run(accepts_after)] == [("start", 401), ("finish", True)]
    assert len(raised) == 1
