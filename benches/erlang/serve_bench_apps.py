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


_runner = None


def loop_floor(pid, tag):
    """The ASGI path's floor: hand a coroutine to a loop thread that sends one message back
    (what ``serve.asgi`` does before any adapter or app code runs)."""
    global _runner
    if _runner is None:
        from py_buffer.runner import LoopRunner
        _runner = LoopRunner(name="bench-floor").start()
    import erlang

    async def reply():
        erlang.send(pid, (tag, "done"))
    _runner.submit(reply())


def time_asgi(n):
    """Where an ASGI request's time goes, on the loop thread: the adapter + app per request
    (no Erlang round trip), in microseconds (median)."""
    import asyncio
    import statistics
    import time
    from py_buffer import PyBuffer
    from py_buffer.asgi_app import AsgiAdapter
    from py_buffer.responder import ChannelResponder
    adapter = AsgiAdapter(asgi_echo)
    req = {"method": "POST", "headers": [(b"content-length", b"1024")]}
    out = []

    async def main():
        for _ in range(n):
            body = PyBuffer.from_bytes(b"x" * 1024)
            resp = PyBuffer(max_buffered=65536)
            t0 = time.perf_counter_ns()
            await adapter(req, body, ChannelResponder(lambda m: None, resp))
            out.append((time.perf_counter_ns() - t0) / 1000)
    from py_buffer.runner import new_event_loop
    loop = new_event_loop()
    loop.run_until_complete(main())
    loop.close()
    return statistics.median(out)


def time_wsgi(n):
    """The same for WSGI: adapter + app per request on this thread (microseconds, median)."""
    import statistics
    import time
    from py_buffer import PyBuffer
    from py_buffer.wsgi import WsgiAdapter
    from py_buffer.responder import ChannelResponder
    adapter = WsgiAdapter(wsgi_echo)
    req = {"method": "POST", "headers": [(b"content-length", b"1024")]}
    out = []
    for _ in range(n):
        body = PyBuffer.from_bytes(b"x" * 1024)
        resp = PyBuffer(max_buffered=65536)
        t0 = time.perf_counter_ns()
        adapter(req, body, ChannelResponder(lambda m: None, resp))
        out.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.median(out)
