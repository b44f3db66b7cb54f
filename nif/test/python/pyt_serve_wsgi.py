"""Plain PEP 3333 apps for nif/test/py_request_tests.erl (no framework)."""
import hashlib
import sys
import threading

from py_buffer import BodyAborted

#: What the apps saw, by request id (the ``x-id`` header): read by the tests.
SEEN = {}
_gates = {}
_lock = threading.Lock()


def seen(key):
    return SEEN.get(key)


def _id(environ):
    return environ.get("HTTP_X_ID", "")


def gate(key):
    with _lock:
        return _gates.setdefault(key, threading.Event())


def open_gate(key):
    gate(key).set()


def echo(environ, start_response):
    """The body back, whole, with the environ's request line."""
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("X-Method", environ["REQUEST_METHOD"]),
                              ("X-Path", environ["PATH_INFO"]),
                              ("X-Query", environ["QUERY_STRING"]),
                              ("X-Remote", "%s:%s" % (environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT")))])
    return [body]


def echo_stream(environ, start_response):
    """The body back, streamed as it is read (64 KiB at a time)."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    inp = environ["wsgi.input"]

    def chunks():
        while True:
            data = inp.read(65536)
            if not data:
                return
            yield data
    return chunks()


def digest(environ, start_response):
    """The body's length and sha256, read in lines and odd-sized reads."""
    inp = environ["wsgi.input"]
    h = hashlib.sha256()
    n = 0
    size = 1
    while True:
        data = inp.readline(size) if size % 2 else inp.read(size)
        if not data:
            break
        h.update(data)
        n += len(data)
        size = size * 3 % 70001 + 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d %s" % (n, h.hexdigest().encode())]


def generate(environ, start_response):
    """``n`` blocks of ``size`` bytes from a generator (query ``n=..&size=..``)."""
    q = dict(p.split("=") for p in environ["QUERY_STRING"].split("&") if p)
    n, size = int(q.get("n", 16)), int(q.get("size", 65536))
    key = _id(environ)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return _Closing(key, (bytes([i % 251]) * size for i in range(n)))


class _Closing:
    """An iterable whose ``close()`` calls are counted (PEP 3333: exactly once)."""

    def __init__(self, key, it):
        self.key = key
        self.it = iter(it)
        SEEN[key] = {"closed": 0, "error": None}

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.it)

    def close(self):
        SEEN[self.key]["closed"] += 1


def write_callable(environ, start_response):
    """The legacy ``write`` callable, then an iterable."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    write(b"first, ")
    return [b"then ", b"returned"]


def custom_phrase(environ, start_response):
    """A status line with a phrase of the app's own, whole or streamed (``?stream``)."""
    start_response("299 Custom Thing", [("Content-Type", "text/plain")])
    if environ.get("QUERY_STRING") == "stream":
        return iter([b"a", b"b"])
    return [b"ab"]


def exc_info_before(environ, start_response):
    """An error handled before the head: start_response again with exc_info."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("boom")
    except ValueError:
        start_response("500 Oops", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"handled"]


def exc_info_after(environ, start_response):
    """exc_info after the head went out: re-raised, the response fails."""
    key = _id(environ)
    start_response("200 OK", [("Content-Type", "text/plain")])

    def body():
        yield b"part one"
        try:
            raise KeyError("late")
        except KeyError:
            try:
                start_response("500 Oops", [], sys.exc_info())
            except KeyError as exc:
                SEEN[key] = {"reraised": repr(exc)}
                raise
    return _Closing(key + ".close", body())


def raises(environ, start_response):
    raise RuntimeError("app failed")


def gated_reader(environ, start_response):
    """Waits for its gate (opened by the test), then reads the body; records what reading
    raised."""
    key = _id(environ)
    gate(key).wait(30)
    try:
        data = environ["wsgi.input"].read()
        SEEN[key] = {"read": len(data)}
    except BodyAborted as exc:
        SEEN[key] = {"aborted": str(exc)}
        raise
    start_response("200 OK", [])
    return [data]


def reads_partly(environ, start_response):
    """Reads 10 bytes of its body, answers."""
    environ["wsgi.input"].read(10)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"partly"]


def ignores_body(environ, start_response):
    start_response("204 No Content", [])
    return []


def records_abort(environ, start_response):
    """Reads its whole body, recording how the read ended."""
    key = _id(environ)
    got = 0
    try:
        while True:
            data = environ["wsgi.input"].read(65536)
            if not data:
                break
            got += len(data)
        SEEN[key] = {"read": got}
    except BodyAborted as exc:
        SEEN[key] = {"aborted": str(exc), "read": got}
        raise
    start_response("200 OK", [])
    return [b"%d" % got]


def stream_records(environ, start_response):
    """``generate``, recording the error that stopped it (the client gone)."""
    key = _id(environ)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])

    def body():
        try:
            for i in range(1 << 20):
                yield bytes([i % 251]) * 65536
        except GeneratorExit:
            SEEN[key]["error"] = "GeneratorExit"
            raise
    return _Closing(key, body())


_watchers = {}


def watch(key, pid):
    """``close()`` of request ``key``'s result sends ``("closed", key, count)`` to ``pid``."""
    _watchers[key] = pid


def _notify_closed(key):
    pid = _watchers.get(key)
    if pid is not None:
        import erlang
        erlang.send(pid, ("closed", key, SEEN[key]["closed"]))


_Closing_close = _Closing.close


def _close_and_notify(self):
    _Closing_close(self)
    _notify_closed(self.key)


_Closing.close = _close_and_notify
