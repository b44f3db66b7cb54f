"""The ASGI adapter (`py_buffer.asgi_app`) served from a loop thread (`AsgiHost`, on asyncio's
loop and on uvloop) by a test server (`serving.Client`): the scope, one-message whole
responses, streaming through a bounded response buffer with ``awrite``, errors before and
after the head, clients leaving mid-body, mid-response and before the app reads, unmodified
Starlette and FastAPI apps in every body chunking, and 100 concurrent requests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from typing import Any, Dict, List

import pytest

from py_buffer import serve
from py_buffer.asgi_host import AsgiHost
from py_buffer.runner import LoopRunner

from serving import Client
from test_asgi import BODY, CHUNKINGS, FASTAPI, FILE_DATA, MULTIPART, STARLETTE

from fastapi.responses import StreamingResponse as FastStreamingResponse
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

try:
    import uvloop  # noqa: F401

    LOOPS = [False, True]
except ImportError:  # pragma: no cover - uvloop is in .ci/requirements.txt
    LOOPS = [False]


@pytest.fixture(params=LOOPS, ids=lambda u: "uvloop" if u else "asyncio")
def runner(request):
    with LoopRunner(use_uvloop=request.param) as r:
        yield r


def host_for(app, runner: LoopRunner, **kw: Any) -> AsgiHost:
    host = AsgiHost(app, runner=runner, **kw)
    host.start(10)
    return host


def request(method: str = "GET", path: bytes = b"/", headers=(), **kw: Any) -> Dict[str, Any]:
    return {"method": method, "path": path, "headers": list(headers), **kw}


def serve_once(host: AsgiHost, req: Dict[str, Any], client: Client):
    host.submit(req, client.body, client.responder).result(20)
    return client.result()


# --- scope and responses ------------------------------------------------------------------------


def test_scope_from_the_request_description(runner) -> None:
    seen: Dict[str, Any] = {}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")
        seen.update(scope)
        message = await receive()
        seen["body"] = message["body"]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"ok"})

    req = request(
        "PUT", b"/root/caf%C3%A9/x%2Fy", [(b"Content-Type", b"text/plain"), (b"X-Dup", b"a")],
        query_string=b"a=%20", http_version="2", scheme="https", client=("1.2.3.4", 9),
        server=("srv", 443), root_path="/root",
    )
    client = Client([b"payload"])
    result = serve_once(host_for(app, runner), req, client)
    assert client.messages == [("start", 200, [(b"x-a", b"1")], b"ok", False), ("finish", True)]
    assert result.body == b"ok"
    assert seen["type"] == "http" and seen["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert seen["http_version"] == "2" and seen["method"] == "PUT" and seen["scheme"] == "https"
    assert seen["path"] == "/root/café/x/y" and seen["raw_path"] == b"/root/caf%C3%A9/x%2Fy"
    assert seen["query_string"] == b"a=%20" and seen["root_path"] == "/root"
    assert seen["headers"] == [(b"content-type", b"text/plain"), (b"x-dup", b"a")]
    assert seen["client"] == ("1.2.3.4", 9) and seen["server"] == ("srv", 443)
    assert seen["state"] == {}  # lifespan unsupported: an empty state
    assert seen["body"] == b"payload"


@pytest.mark.parametrize("method", ["delete", "Get", "M-SEARCH"])
def test_the_method_is_passed_as_sent(runner, method):
    # RFC 9110 §9.1: methods are case-sensitive; upper-casing could slip a request past a
    # method filter in front.
    seen = {}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")
        seen["method"] = scope["method"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    serve_once(host_for(app, runner), request(method, b"/"), Client([]))
    assert seen["method"] == method


@pytest.mark.parametrize("status, headers", [
    (200, [(b"x-a", b"1\r\nSet-Cookie: x=1")]),
    (200, [(b"x-a", b"1\nb")]),
    (200, [(b"x-a", b"a\x00b")]),
    (200, [(b"x a", b"1")]),
    (200, [(b"", b"1")]),
    (99, []),
    (1000, []),
])
def test_a_head_http_cannot_carry_is_a_500(runner, status, headers):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"never"})

    client = Client([])
    serve_once(host_for(app, runner), request("GET", b"/"), client)
    assert client.messages[0][:2] == ("start", 500)
    assert b"never" not in client.messages[0][3]


async def streaming_app(scope, receive, send):
    if scope["type"] != "http":
        return
    n = int(scope["query_string"] or b"100")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"", "more_body": True})
    for i in range(n):
        await send({"type": "http.response.body", "body": b"%06d;" % i, "more_body": True})
    await send({"type": "http.response.body", "body": b"end"})


def expected_stream(n: int) -> bytes:
    return b"".join(b"%06d;" % i for i in range(n)) + b"end"


def test_streaming_through_a_bounded_response(runner) -> None:
    client = Client(bound=100, read_size=9)
    result = serve_once(host_for(streaming_app, runner), request(query_string=b"2000"), client)
    assert (result.status, result.more, result.end) == (200, True, "finish")
    assert result.body == expected_stream(2000)
    assert 0 < client.max_unread <= 100


def test_large_whole_body_streams(runner) -> None:
    big = os.urandom(300_000)

    async def app(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200})
            await send({"type": "http.response.body", "body": big})

    client = Client(bound=4096)
    result = serve_once(host_for(app, runner, whole_max=100_000), request(), client)
    assert (result.body, result.more) == (big, True)
    assert client.max_unread <= 4096


@pytest.mark.parametrize("when", ["before", "after", "incomplete", "nothing"])
def test_app_errors(runner, when, caplog) -> None:
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if when == "nothing":
            return
        if when == "before":
            await send({"type": "http.response.start", "status": 200})
            raise KeyError("before")
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        if when == "after":
            raise KeyError("after")

    with caplog.at_level(logging.ERROR, logger="py_buffer.serve"):
        result = serve_once(host_for(app, runner), request(), Client())
    errors = [r for r in caplog.records if r.name == "py_buffer.serve" and r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    if when in ("before", "nothing"):
        assert (result.status, result.body, result.end) == (500, b"Internal Server Error", "finish")
    else:
        assert (result.status, result.body, result.end) == (200, b"part", "fail")


def test_body_not_consumed_is_reported(runner) -> None:
    async def app(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204})
            await send({"type": "http.response.body"})

    client = Client([b"unread"], content_length=6)
    result = serve_once(host_for(app, runner), request("POST"), client)
    assert (result.status, result.end, result.end_arg) == (204, "finish", False)


# --- clients leaving ----------------------------------------------------------------------------


def test_client_leaves_mid_response(runner, caplog) -> None:
    errors: List[BaseException] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200})
        i = 0
        try:
            while True:
                await send({"type": "http.response.body", "body": b"%08d" % i, "more_body": True})
                i += 1
        except OSError as e:
            errors.append(e)
            raise

    client = Client(bound=64, read_size=16, leave_after=1000)
    with caplog.at_level(logging.DEBUG, logger="py_buffer.serve"):
        result = serve_once(host_for(app, runner), request(), client)
    assert isinstance(errors[0], BrokenPipeError)
    assert result.end == "fail"
    assert result.body == b"".join(b"%08d" % i for i in range(len(result.body) // 8))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("before_read", [False, True], ids=["mid-body", "before-read"])
def test_client_leaves_mid_body(runner, before_read, caplog) -> None:
    messages: List[Dict[str, Any]] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] == "http.disconnect":
                return  # nobody to answer

    client = Client([] if before_read else [b"part"], content_length=100, body_end="abort")
    if before_read:
        client.producer.join()
    with caplog.at_level(logging.DEBUG, logger="py_buffer.serve"):
        result = serve_once(host_for(app, runner), request("POST"), client)
    assert messages[-1] == {"type": "http.disconnect"}
    if not before_read:
        assert messages[0] == {"type": "http.request", "body": b"part", "more_body": True}
    assert result.end == "fail"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_starlette_sees_client_disconnect(runner, caplog) -> None:
    seen: List[BaseException] = []

    async def body(request: Request) -> Response:
        try:
            await request.body()
        except ClientDisconnect as e:
            seen.append(e)
            raise
        return Response(b"unreachable")

    app = Starlette(routes=[Route("/", body, methods=["POST"])])
    client = Client([b"some"], content_length=100, body_end="abort")
    with caplog.at_level(logging.DEBUG, logger="py_buffer.serve"):
        serve_once(host_for(app, runner), request("POST"), client)
    assert len(seen) == 1
    assert not [r for r in caplog.records if r.name.startswith("py_buffer") and r.levelno >= logging.ERROR]


# --- frameworks ---------------------------------------------------------------------------------


def upload(path: bytes, chunks: List[bytes]) -> Client:
    client = Client(chunks, content_length=len(BODY))
    client.req = request(
        "POST", path, [(b"content-type", MULTIPART.encode()), (b"content-length", str(len(BODY)).encode())]
    )
    return client


@pytest.mark.parametrize("app,path", [(STARLETTE, b"/form"), (FASTAPI, b"/upload")], ids=["starlette", "fastapi"])
def test_uploads_in_every_chunking(runner, app, path) -> None:
    host = host_for(app, runner)
    whole = upload(path, [BODY])
    first = serve_once(host, whole.req, whole)
    assert first.status == 200, first.body
    assert hashlib.sha256(FILE_DATA).hexdigest() in json.loads(first.body).__repr__()
    for name, chunks in CHUNKINGS.items():
        client = upload(path, chunks)
        assert serve_once(host, client.req, client).body == first.body, name


def make_streaming(fast: bool):
    async def lines():
        for i in range(1000):
            yield b"line %d\n" % i

    if fast:
        from fastapi import FastAPI

        app = FastAPI()

        @app.get("/s")
        async def stream():
            return FastStreamingResponse(lines(), media_type="text/plain")

        return app

    async def stream(request: Request) -> Response:
        return StreamingResponse(lines(), media_type="text/plain")

    return Starlette(routes=[Route("/s", stream)])


@pytest.mark.parametrize("fast", [False, True], ids=["starlette", "fastapi"])
def test_streaming_response(runner, fast) -> None:
    client = Client(bound=512, read_size=13)
    result = serve_once(host_for(make_streaming(fast), runner), request("GET", b"/s"), client)
    assert (result.status, result.more, result.end) == (200, True, "finish")
    assert result.body == b"".join(b"line %d\n" % i for i in range(1000))
    assert client.max_unread <= 512


# --- many at once, and the entry points -----------------------------------------------------------


async def echo(scope, receive, send):
    """Streams the body back as it arrives, with its sha256 at the end."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    h = hashlib.sha256()
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        h.update(message["body"])
        await send({"type": "http.response.body", "body": message["body"], "more_body": True})
        if not message.get("more_body"):
            break
    await send({"type": "http.response.body", "body": h.hexdigest().encode()})


def test_100_concurrent_requests(runner) -> None:
    host = host_for(echo, runner)
    bodies = [os.urandom(5000 + i * 37) for i in range(100)]
    clients = [Client([b[j : j + 999] for j in range(0, len(b), 999)], bound=2048, read_size=333) for b in bodies]
    futures = [host.submit(request("POST"), c.body, c.responder) for c in clients]
    for f in futures:
        f.result(30)
    for body, client in zip(bodies, clients):
        result = client.result()
        assert result.body == body + hashlib.sha256(body).hexdigest().encode()
        assert client.max_unread <= 2048


def test_serve_entry_points_by_name() -> None:
    name = f"{__name__}:echo"
    try:
        serve.asgi_startup(name)
        client = Client([b"by ", b"name"])
        serve.asgi(name, request("POST"), client.body, client.response, client.send)
        result = client.result()
        assert result.body == b"by name" + hashlib.sha256(b"by name").hexdigest().encode()
    finally:
        serve.asgi_shutdown(name)


def test_adapter_on_the_callers_loop() -> None:
    """The adapter is a plain coroutine: a server with its own loop awaits it there."""
    from py_buffer.asgi_app import AsgiAdapter

    client = Client([b"abc"])

    async def main() -> None:
        await AsgiAdapter(echo)(request("POST"), client.body, client.responder)

    asyncio.run(main())
    assert client.result().body == b"abc" + hashlib.sha256(b"abc").hexdigest().encode()
