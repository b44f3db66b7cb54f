"""Plain ASGI 3 apps for nif/test/py_request_tests.erl (no framework)."""
import asyncio

SEEN = {}


def seen(key):
    return SEEN.get(key)


def _id(scope):
    for name, value in scope["headers"]:
        if name == b"x-id":
            return value.decode()
    return ""


async def _body(receive):
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def echo(scope, receive, send):
    """The body back in one final message."""
    if scope["type"] != "http":
        return
    body = await _body(receive)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"),
                            (b"x-path", scope["path"].encode()),
                            (b"x-client", repr(scope["client"]).encode())]})
    await send({"type": "http.response.body", "body": body})


async def echo_stream(scope, receive, send):
    """The body back, each received chunk sent as it arrives."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if body or not more:
            await send({"type": "http.response.body", "body": body, "more_body": more})
        if not more:
            return


async def generate(scope, receive, send):
    """``n`` blocks of ``size`` bytes; records how it ended (``x-id``)."""
    if scope["type"] != "http":
        return
    key = _id(scope)
    q = dict(p.split(b"=") for p in scope["query_string"].split(b"&") if p)
    n, size = int(q.get(b"n", 16)), int(q.get(b"size", 65536))
    SEEN[key] = {"sent": 0, "error": None}
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        for i in range(n):
            await send({"type": "http.response.body", "body": bytes([i % 251]) * size,
                        "more_body": True})
            SEEN[key]["sent"] += 1
        await send({"type": "http.response.body", "body": b""})
    except OSError as exc:
        SEEN[key]["error"] = type(exc).__name__
        raise


async def disconnect_watch(scope, receive, send):
    """Reads its body; records whether it saw ``http.disconnect``."""
    if scope["type"] != "http":
        return
    key = _id(scope)
    got = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            SEEN[key] = {"disconnect": True, "read": got}
            return
        got += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    SEEN[key] = {"disconnect": False, "read": got}
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"%d" % got})


class Lifespan:
    """An app counting its lifespan events; its startup puts state into the scope."""

    def __init__(self):
        self.startups = 0
        self.shutdowns = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.startups += 1
                    scope["state"]["greeting"] = "hello from startup %d" % self.startups
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.shutdowns += 1
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = scope["state"]["greeting"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


lifespan_app = Lifespan()
lifespan_app2 = Lifespan()


def lifespan_counts(name):
    app = globals()[name]
    return [app.startups, app.shutdowns]


async def failing_startup(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
