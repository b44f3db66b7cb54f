"""Plain WSGI and ASGI apps for the HTTP tests (``--app-dir serve/tests``), one route per
behaviour. ``?pid=1`` on ``/upload`` (a ``pid`` field) and ``/download`` (an ``x-pid``
header), and ``GET /pid``, tell which process (which node's VM) served the request. Both record what they saw of broken bodies in `EVENTS` (``GET /events`` returns
it as JSON; ``POST /events/clear`` empties it), with ``time.monotonic()`` (the system-wide
CLOCK_MONOTONIC on Linux, so the test process can compare times)."""

import asyncio
import hashlib
import json
import os
import threading
import time
from urllib.parse import unquote

BLOCK = bytes(range(256)) * 256
EVENTS = []
_lock = threading.Lock()
ACTIVE = {"wsgi": 0, "asgi": 0}


def record(kind, **info):
    with _lock:
        EVENTS.append(dict(info, kind=kind, t=time.monotonic()))


def query(qs):
    out = {}
    for part in qs.split("&"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


def served(reply, q):
    """``reply`` plus the serving process's pid if the query asks (``pid=1``)."""
    return dict(reply, pid=os.getpid()) if q.get("pid") else reply


def pattern(size):
    while size > 0:
        block = BLOCK[:size]
        size -= len(block)
        yield block


# ---- WSGI --------------------------------------------------------------------------------

def wsgi(environ, start_response):
    path = environ["PATH_INFO"]
    q = query(environ.get("QUERY_STRING", ""))
    body = environ["wsgi.input"]

    def reply(status, data, ctype="application/json"):
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
        return [data]

    if path == "/events":
        with _lock:
            return reply("200 OK", json.dumps(EVENTS).encode())
    if path == "/events/clear":
        with _lock:
            EVENTS.clear()
        return reply("200 OK", b"{}")
    if path in ("/upload", "/slow-upload"):
        digest, size = hashlib.sha256(), 0
        delay = float(q.get("delay", "0"))
        with _lock:
            ACTIVE["wsgi"] += 1
        try:
            while True:
                chunk = body.read(65536)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
                if delay:
                    time.sleep(delay)
        except Exception as exc:  # BodyAborted (client gone, limits, timeouts)
            record("aborted", app="wsgi", error=type(exc).__name__, id=q.get("id"),
                   got=size)
            raise
        finally:
            with _lock:
                ACTIVE["wsgi"] -= 1
        record("complete", app="wsgi", id=q.get("id"), got=size)
        return reply("200 OK", json.dumps(served({"bytes": size, "sha256": digest.hexdigest()},
                                                 q)).encode())
    if path == "/echo":
        return reply("200 OK", body.read(), "application/octet-stream")
    if path == "/duplex":
        # Each piece of the body is sent back as soon as it is read (full duplex: the
        # client sends its next piece only after it saw the last one come back).
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return iter(lambda: body.read1(65536), b"")
    if path == "/late-read":
        time.sleep(float(q.get("s", "0.5")))
        return reply("200 OK", json.dumps({"bytes": len(body.read())}).encode())
    if path == "/never-reads":
        return reply("200 OK", b"did not read\n", "text/plain")
    if path == "/raise":
        raise RuntimeError("boom")
    if path == "/raise-after":
        def gen():
            yield b"partial "
            raise RuntimeError("boom after")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/download":
        size = int(q.get("size", 1 << 20))
        headers = [("Content-Type", "application/octet-stream")]
        if q.get("pid"):
            headers.append(("X-Pid", str(os.getpid())))
        if q.get("length"):
            headers.append(("Content-Length", str(size)))
        start_response("200 OK", headers)
        return pattern(size)
    if path == "/cookies":
        return reply("200 OK", json.dumps([environ.get("HTTP_COOKIE")]).encode())
    if path == "/early-then-read":
        # The response starts before the body is read (write() sends the head at once).
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"first;")
        return [b"got %d" % len(body.read())]
    if path == "/app-closes":
        start_response("200 OK", [("Content-Length", "4"), ("Connection", "close")])
        return [b"bye\n"]
    if path == "/headers":
        return reply("200 OK", json.dumps(sorted(
            [k, v] for k, v in environ.items() if k.startswith("HTTP_"))).encode())
    if path == "/lying-length":
        # A streamed body of `give` bytes under a Content-Length of `say`.
        start_response("200 OK", [("Content-Length", q["say"])])
        return pattern(int(q["give"]))
    if path == "/echo-header":
        # A header value taken from the query (percent-decoded): a CR LF in it must not
        # reach the wire.
        start_response("200 OK", [("X-Echo", unquote(q["v"])), ("Content-Length", "3")])
        return [b"ok\n"]
    if path == "/sleep":
        time.sleep(float(q.get("s", "1")))
        return reply("200 OK", b"slept\n", "text/plain")
    if path == "/active":
        return reply("200 OK", json.dumps(ACTIVE).encode())
    if path == "/pid":
        return reply("200 OK", json.dumps({"pid": os.getpid()}).encode())
    if path.startswith("/target"):
        return reply("200 OK", json.dumps([path, environ.get("QUERY_STRING", "")]).encode())
    if path == "/whoami":
        port = environ.get("REMOTE_PORT")  # none over a Unix domain socket
        return reply("200 OK", json.dumps([environ["wsgi.url_scheme"], environ.get("REMOTE_ADDR"),
                                           port and int(port)]).encode())
    return reply("200 OK", b"hello\n", "text/plain")


# ---- ASGI --------------------------------------------------------------------------------

async def body_size(receive):
    """Reads an ASGI request body to its end; returns its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            return size


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                record("startup")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                record("shutdown")
                with open(SHUTDOWN_MARK, "a") as f:
                    f.write("shutdown\n")
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    q = query(scope["query_string"].decode())

    async def reply(status, data, ctype=b"application/json"):
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype)]})
        await send({"type": "http.response.body", "body": data})

    if path == "/events":
        with _lock:
            return await reply(200, json.dumps(EVENTS).encode())
    if path == "/events/clear":
        with _lock:
            EVENTS.clear()
        return await reply(200, b"{}")
    if path in ("/upload", "/slow-upload"):
        digest, size = hashlib.sha256(), 0
        delay = float(q.get("delay", "0"))
        ACTIVE["asgi"] += 1
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    record("aborted", app="asgi", error="http.disconnect", id=q.get("id"),
                           got=size)
                    return
                chunk = message.get("body", b"")
                digest.update(chunk)
                size += len(chunk)
                if delay:
                    await asyncio.sleep(delay)
                if not message.get("more_body"):
                    break
        finally:
            ACTIVE["asgi"] -= 1
        record("complete", app="asgi", id=q.get("id"), got=size)
        return await reply(200, json.dumps(served({"bytes": size, "sha256": digest.hexdigest()},
                                                  q)).encode())
    if path == "/echo":
        data = b""
        while True:
            message = await receive()
            data += message.get("body", b"")
            if not message.get("more_body"):
                break
        return await reply(200, data, b"application/octet-stream")
    if path == "/duplex":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if message.get("body"):
                await send({"type": "http.response.body", "body": message["body"],
                            "more_body": True})
            if not message.get("more_body"):
                break
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/late-read":
        await asyncio.sleep(float(q.get("s", "0.5")))
        return await reply(200, json.dumps({"bytes": await body_size(receive)}).encode())
    if path == "/never-reads":
        return await reply(200, b"did not read\n", b"text/plain")
    if path == "/raise":
        raise RuntimeError("boom")
    if path == "/raise-after":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial ", "more_body": True})
        raise RuntimeError("boom after")
    if path == "/download":
        size = int(q.get("size", 1 << 20))
        headers = [(b"content-type", b"application/octet-stream")]
        if q.get("pid"):
            headers.append((b"x-pid", str(os.getpid()).encode()))
        if q.get("length"):
            headers.append((b"content-length", str(size).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for block in pattern(size):
            await send({"type": "http.response.body", "body": block, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/wait-disconnect":
        # A long poll: the body, then a receive() that returns when the client leaves.
        while (await receive()).get("more_body"):
            pass
        record("waiting", app="asgi", id=q.get("id"))
        message = await receive()
        record("disconnected", app="asgi", id=q.get("id"), type=message["type"])
        return
    if path == "/after-response":
        # Work after the response (as Starlette's background tasks): it must end before the
        # lifespan shutdown runs, which writes its own line after this one.
        await reply(200, b"answered\n", b"text/plain")
        await asyncio.sleep(float(q.get("s", "1")))
        with open(SHUTDOWN_MARK, "a") as f:
            f.write("after-response done\n")
        return
    if path == "/early-then-read":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first;", "more_body": True})
        size = await body_size(receive)
        await send({"type": "http.response.body", "body": b"got %d" % size})
        return
    if path == "/app-closes":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"4"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": b"bye\n"})
        return
    if path == "/cookies":
        return await reply(200, json.dumps([v.decode() for n, v in scope["headers"]
                                            if n == b"cookie"]).encode())
    if path == "/headers":
        return await reply(200, json.dumps([[n.decode(), v.decode("latin-1")]
                                            for n, v in scope["headers"]]).encode())
    if path == "/lying-length":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", q["say"].encode())]})
        for block in pattern(int(q["give"])):
            await send({"type": "http.response.body", "body": block, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/echo-header":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-echo", unquote(q["v"]).encode("latin-1"))]})
        await send({"type": "http.response.body", "body": b"ok\n"})
        return
    if path == "/sleep":
        await asyncio.sleep(float(q.get("s", "1")))
        return await reply(200, b"slept\n", b"text/plain")
    if path == "/active":
        return await reply(200, json.dumps(ACTIVE).encode())
    if path == "/pid":
        return await reply(200, json.dumps({"pid": os.getpid()}).encode())
    if path.startswith("/target"):
        return await reply(200, json.dumps([path, scope["query_string"].decode()]).encode())
    if path == "/whoami":
        return await reply(200, json.dumps([scope["scheme"],
                                            *(scope["client"] or [None, None])]).encode())
    return await reply(200, b"hello\n", b"text/plain")


#: Where the ASGI lifespan shutdown leaves its mark (the tests set it through the env).
SHUTDOWN_MARK = os.environ.get("SERVE_TEST_SHUTDOWN_MARK", "/dev/null")
