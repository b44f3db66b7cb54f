"""ASGI lifespan (`py_buffer.lifespan`, through `AsgiHost`): startup and shutdown once per app,
state copied into request scopes, failures reported, apps without lifespan tolerated; a
Starlette app's lifespan context manager."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, List

import pytest

from py_buffer.asgi_host import AsgiHost
from py_buffer.lifespan import LifespanFailed
from py_buffer.runner import LoopRunner

from serving import Client

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def make_app(events: List[str], startup: str = "complete", shutdown: str = "complete"):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            message = await receive()
            assert message == {"type": "lifespan.startup"}
            events.append("startup")
            scope["state"]["db"] = "connected"
            if startup == "raise":
                raise RuntimeError("no lifespan support")
            await send({"type": f"lifespan.startup.{startup}", "message": "cannot start"})
            if startup == "failed":
                return
            message = await receive()
            assert message == {"type": "lifespan.shutdown"}
            events.append("shutdown")
            await send({"type": f"lifespan.shutdown.{shutdown}", "message": "cannot stop"})
            return
        events.append("request")
        await send({"type": "http.response.start", "status": 200})
        if "state" not in scope:
            await send({"type": "http.response.body", "body": b"no state"})
            return
        scope["state"]["mutated"] = True  # a copy: other requests never see it
        await send({"type": "http.response.body", "body": repr(sorted(scope["state"].items())).encode()})

    return app


def get(host: AsgiHost) -> bytes:
    client = Client()
    host.submit({"method": "GET", "path": b"/"}, client.body, client.responder).result(10)
    return client.result().body


def test_startup_state_and_shutdown_once() -> None:
    events: List[str] = []
    host = AsgiHost(make_app(events))
    host.start(10)
    host.start(10)  # once
    assert events == ["startup"]
    assert get(host) == b"[('db', 'connected'), ('mutated', True)]"
    assert get(host) == b"[('db', 'connected'), ('mutated', True)]"
    host.stop(10)
    assert events == ["startup", "request", "request", "shutdown"]


def test_startup_failed_raises() -> None:
    events: List[str] = []
    host = AsgiHost(make_app(events, startup="failed"))
    with pytest.raises(LifespanFailed, match="cannot start"):
        host.start(10)
    host.stop(10)


def test_shutdown_failed_raises() -> None:
    host = AsgiHost(make_app([], shutdown="failed"))
    host.start(10)
    with pytest.raises(LifespanFailed, match="cannot stop"):
        host.stop(10)


def test_app_without_lifespan_is_tolerated(caplog) -> None:
    events: List[str] = []
    with caplog.at_level(logging.INFO, logger="py_buffer.serve"):
        host = AsgiHost(make_app(events, startup="raise"))
        host.start(10)
    assert host.lifespan is not None and not host.lifespan.supported
    assert any("does not support lifespan" in r.getMessage() for r in caplog.records)
    assert get(host).startswith(b"[")
    host.stop(10)
    assert events == ["startup", "request"]


def test_lifespan_disabled() -> None:
    events: List[str] = []
    with LoopRunner() as runner:
        host = AsgiHost(make_app(events), runner=runner, lifespan=False)
        host.start(10)
        assert get(host) == b"no state"
        host.stop(10)
    assert events == ["request"]


def test_starlette_lifespan_context() -> None:
    events: List[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app) -> Any:
        events.append("up")
        yield {"greeting": "hello"}
        events.append("down")

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.greeting)

    app = Starlette(routes=[Route("/", hello)], lifespan=lifespan)
    host = AsgiHost(app)
    host.start(10)
    assert get(host) == b"hello"
    host.stop(10)
    assert events == ["up", "down"]


def test_state_is_per_app() -> None:
    host_a = AsgiHost(make_app([]))
    host_b = AsgiHost(make_app([], startup="raise"))
    host_a.start(10)
    host_b.start(10)
    assert host_a.lifespan is not None and host_a.lifespan.state == {"db": "connected"}
    assert host_b.lifespan is not None and host_b.lifespan.state == {"db": "connected"}
    assert host_a.lifespan.state is not host_b.lifespan.state
    host_a.stop(10)
    host_b.stop(10)
