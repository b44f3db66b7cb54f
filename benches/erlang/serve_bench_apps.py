"""Python side of benches/erlang/serve_bench.escript: minimal WSGI and ASGI apps."""


def noop():
    return None


def wsgi_echo(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]


async def asgi_echo(scope, receive, send):
    if scope["type"] != "http":
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def wsgi_sink(environ, start_response):
    """Reads the body in 1 MiB ``readinto`` calls; answers its length."""
    inp = environ["wsgi.input"]
    block = bytearray(1 << 20)
    view = memoryview(block)
    total = 0
    while True:
        n = inp.readinto(view)
        if not n:
            break
        total += n
    start_response("200 OK", [])
    return [b"%d" % total]


_BLOCK = b"\xa5" * (1 << 20)


def wsgi_source(environ, start_response):
    """``QUERY_STRING`` MiB from a generator, 1 MiB per chunk."""
    n = int(environ["QUERY_STRING"])
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return (_BLOCK for _ in range(n))
