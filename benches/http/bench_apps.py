"""The benchmark apps: the same routes as a WSGI app (`wsgi`) and an ASGI app (`asgi`), with
no framework, so the servers are what is measured.

- ``POST /echo``: the body back (read whole).
- ``POST /upload``: the body read 64 KiB at a time; answers the byte count.
- ``GET /download?size=N``: N bytes streamed in 64 KiB blocks, no Content-Length.
- ``POST /duplex``: each piece of the body sent back as soon as it is read (full duplex;
  WSGI: ``read1`` where the input has it, else ``read(64)``).
- WebSocket ``/ws`` (ASGI only): every message sent back as it came.
- ``POST /query`` (WSGI only): the body read, then 2 ms blocked with the GIL released (as in a
  database query) and ~30 µs of Python; answers the body's length. A server's Python threads
  are what it measures: with too few, requests wait behind blocked ones.
"""

import time

BLOCK = b"x" * 65536


def _size(qs):
    for part in qs.split("&"):
        if part.startswith("size="):
            return int(part[5:])
    return 1 << 20


def wsgi(environ, start_response):
    path = environ["PATH_INFO"]
    body = environ["wsgi.input"]
    if path == "/upload":
        size = 0
        while True:
            chunk = body.read(65536)
            if not chunk:
                break
            size += len(chunk)
        data = str(size).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(data)))])
        return [data]
    if path == "/download":
        size = _size(environ.get("QUERY_STRING", ""))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])

        def blocks():
            left = size
            while left > 0:
                yield BLOCK[:left]
                left -= len(BLOCK)
        return blocks()
    if path == "/duplex":
        read = getattr(body, "read1", None) or (lambda n: body.read(64))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return iter(lambda: read(65536), b"")
    if path == "/query":
        size = len(body.read())
        time.sleep(0.002)
        data = b"%d %d" % (size, sum(range(2000)))
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(data)))])
        return [data]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    data = body.read(length) if length else body.read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(data)))])
    return [data]


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
        return
    path = scope["path"]
    if path == "/download":
        size = _size(scope["query_string"].decode())
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        left = size
        while left > 0:
            await send({"type": "http.response.body", "body": BLOCK[:left], "more_body": True})
            left -= len(BLOCK)
        await send({"type": "http.response.body", "body": b""})
        return
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
    parts = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        size += len(chunk)
        if path != "/upload":
            parts.append(chunk)
        if not message.get("more_body"):
            break
    data = str(size).encode() if path == "/upload" else b"".join(parts)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
