"""The WSGI adapter (`py_buffer.wsgi`) served by a test server (`serving.Client`): the environ,
``start_response`` and its ``exc_info`` rules, ``write``, one-message whole responses,
streaming with a bounded response buffer, ``close()`` exactly once, ``wsgi.file_wrapper``,
errors before and after the head, clients leaving mid-body, mid-response and before the app
reads, unmodified Flask and Django apps, and 100 concurrent requests."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import wsgiref.validate
from typing import Any, Dict, Iterator, List

import pytest

from py_buffer import BodyAborted
from py_buffer import serve
from py_buffer.wsgi import WsgiAdapter

from serving import Client
from test_frameworks import BODY, BOUNDARY, CHUNKINGS, FILE_DATA  # also configures Django

import flask
from django.http import HttpResponse, StreamingHttpResponse
from django.test.utils import override_settings
from django.urls import path as django_path
from django.core.handlers.wsgi import WSGIHandler

MULTIPART = "multipart/form-data; boundary=" + BOUNDARY.decode()


def request(method: str = "GET", path: bytes = b"/", headers=(), **kw: Any) -> Dict[str, Any]:
    return {"method": method, "path": path, "headers": list(headers), **kw}


def serve_once(app, req: Dict[str, Any], client: Client, **kw: Any):
    WsgiAdapter(app, **kw)(req, client.body, client.responder)
    return client.result()


class Closing:
    """An app result that counts its close() calls."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        self.closed += 1


# --- environ --------------------------------------------------------------------------------


def test_environ_from_the_request_description() -> None:
    seen: Dict[str, Any] = {}

    def app(environ, start_response):
        seen.update(environ)
        seen["body"] = environ["wsgi.input"].read(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    headers = [
        (b"Host", b"example.org"),
        (b"Content-Type", b"text/plain"),
        (b"Content-Length", b"5"),
        (b"X-Dup", b"a"),
        (b"x-dup", b"b"),
        (b"Cookie", b"a=1"),
        (b"cookie", b"b=2"),
        (b"X_Spoof", b"dropped"),
        (b"X-Latin", b"caf\xe9"),
    ]
    req = request(
        "POST", b"/app/a%20b%E9/c", headers, query_string=b"q=1&r=%20", http_version="1.1",
        scheme="https", client=("10.0.0.1", 5555), server=("example.org", 8443), root_path="/app",
    )
    result = serve_once(wsgiref.validate.validator(app), req, Client([b"hel", b"lo"], content_length=5))
    assert (result.status, result.body, result.end) == (200, b"ok", "finish")  # streamed: the validator wraps the list
    assert seen["body"] == b"hello"
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["SCRIPT_NAME"] == "/app"
    assert seen["PATH_INFO"] == "/a b\xe9/c"
    assert seen["QUERY_STRING"] == "q=1&r=%20"
    assert seen["SERVER_NAME"] == "example.org" and seen["SERVER_PORT"] == "8443"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["REMOTE_ADDR"] == "10.0.0.1" and seen["REMOTE_PORT"] == "5555"
    assert seen["CONTENT_TYPE"] == "text/plain" and seen["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in seen and "HTTP_CONTENT_LENGTH" not in seen
    assert seen["HTTP_HOST"] == "example.org"
    assert seen["HTTP_X_DUP"] == "a, b"
    assert seen["HTTP_COOKIE"] == "a=1; b=2"
    assert seen["HTTP_X_LATIN"] == "caf\xe9"
    assert "HTTP_X_SPOOF" not in seen
    assert seen["wsgi.version"] == (1, 0) and seen["wsgi.url_scheme"] == "https"
    assert seen["wsgi.input_terminated"] is True and seen["wsgi.multithread"] is True
    assert seen["wsgi.multiprocess"] is False and seen["wsgi.run_once"] is False
    assert callable(seen["wsgi.file_wrapper"])


def test_chunked_body_has_no_content_length() -> None:
    seen: Dict[str, Any] = {}

    def app(environ, start_response):
        seen.update(environ)
        start_response("204 No Content", [])
        return [environ["wsgi.input"].read()]

    req = request("POST", headers=[(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"3")])
    result = serve_once(app, req, Client([b"ab", b"c"]))
    assert "CONTENT_LENGTH" not in seen and seen["HTTP_TRANSFER_ENCODING"] == "chunked"
    assert (result.status, result.body) == (204, b"abc")


def test_wsgi_errors_goes_to_the_log(caplog) -> None:
    def app(environ, start_response):
        environ["wsgi.errors"].write("first line\nsecond ")
        environ["wsgi.errors"].writelines(["line\n"])
        environ["wsgi.errors"].flush()
        start_response("200 OK", [])
        return []

    with caplog.at_level(logging.ERROR, logger="py_buffer.serve.errors"):
        serve_once(app, request(), Client())
    assert [r.getMessage() for r in caplog.records] == ["first line", "second line"]


# --- responses --------------------------------------------------------------------------------


def test_whole_response_is_one_message() -> None:
    def app(environ, start_response):
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-A", "1")])
        return [b"made ", b"it"]

    client = Client()
    result = serve_once(app, request(), client)
    assert client.messages == [
        ("start", (201, b"Created"), [(b"Content-Type", b"text/plain"), (b"X-A", b"1")], b"made it", False),
        ("finish", True),
    ]
    assert result.body == b"made it"


def test_streaming_head_waits_for_the_first_non_empty_chunk() -> None:
    client = Client()

    def app(environ, start_response):
        start_response("200 OK", [])
        yield b""
        assert client.messages == []  # nothing sent for an empty chunk
        yield b"one "
        assert client.messages == [("start", (200, b"OK"), [], None, True)]
        yield b""
        yield b"two"

    result = serve_once(app, request(), client)
    assert (result.body, result.more, result.end) == (b"one two", True, "finish")


def test_empty_generator_sends_the_head_at_the_end() -> None:
    def app(environ, start_response):
        start_response("204 No Content", [])
        yield from ()

    client = Client()
    result = serve_once(app, request(), client)
    assert client.messages == [("start", (204, b"No Content"), [], b"", False), ("finish", True)]
    assert result.body == b""


def test_write_callable() -> None:
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        write(b"")
        return [b"then ", b"returned"]

    result = serve_once(app, request(), Client())
    assert (result.body, result.more) == (b"written then returned", True)


def test_whole_response_above_whole_max_streams() -> None:
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"x" * 100, b"y" * 100]

    result = serve_once(app, request(), Client(), whole_max=150)
    assert (result.body, result.more) == (b"x" * 100 + b"y" * 100, True)


def test_slow_consumer_keeps_the_response_bounded() -> None:
    chunk = bytes(range(256)) * 256  # 64 KiB

    def app(environ, start_response):
        start_response("200 OK", [])
        for i in range(16):
            yield chunk[i:] + chunk[:i]

    client = Client(bound=4096, read_size=100)
    result = serve_once(app, request(), client)
    assert result.body == b"".join(chunk[i:] + chunk[:i] for i in range(16))
    assert 0 < client.max_unread <= 4096


# --- start_response rules and close() ---------------------------------------------------------


def test_exc_info_before_the_head_replaces_it() -> None:
    def app(environ, start_response):
        start_response("200 OK", [("X-First", "1")])
        try:
            raise ValueError("oops")
        except ValueError:
            import sys

            start_response("500 Oops", [("X-Second", "2")], sys.exc_info())
        return [b"sorry"]

    result = serve_once(app, request(), Client())
    assert (result.status, result.headers, result.body) == (500, [(b"X-Second", b"2")], b"sorry")


def test_exc_info_after_the_head_reraises_and_fails(caplog) -> None:
    result_obj: List[Closing] = []

    def app(environ, start_response):
        import sys

        start_response("200 OK", [])

        def body():
            yield b"partial"
            try:
                raise KeyError("late")
            except KeyError:
                start_response("500 Late", [], sys.exc_info())  # re-raises
            yield b"never"

        result_obj.append(Closing(body()))
        return result_obj[0]

    with caplog.at_level(logging.ERROR, logger="py_buffer.serve"):
        result = serve_once(app, request(), Client())
    assert (result.status, result.body, result.end) == (200, b"partial", "fail")
    assert "KeyError" in result.end_arg
    assert result_obj[0].closed == 1
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


def test_start_response_twice_without_exc_info_is_an_error(caplog) -> None:
    def app(environ, start_response):
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b""]

    with caplog.at_level(logging.ERROR, logger="py_buffer.serve"):
        result = serve_once(app, request(), Client())
    assert (result.status, result.body, result.more) == (500, b"Internal Server Error", False)


@pytest.mark.parametrize("where", ["iter", "call", "none"])
def test_close_called_exactly_once(where) -> None:
    def chunks():
        yield b"a"
        if where == "iter":
            raise RuntimeError("mid-iteration")
        yield b"b"

    made: List[Closing] = []

    def app(environ, start_response):
        start_response("200 OK", [])
        made.append(Closing(chunks()))
        if where == "call":
            start_response("200 OK", [])  # AssertionError, after the result was made
        return made[0]

    logging.getLogger("py_buffer.serve").disabled = True
    try:
        result = serve_once(app, request(), Client())
    finally:
        logging.getLogger("py_buffer.serve").disabled = False
    if where == "call":
        assert result.status == 500  # the result was never returned: nothing to close
        assert made[0].closed == 0
        return
    assert made[0].closed == 1
    assert result.end == ("fail" if where == "iter" else "finish")


def test_error_before_the_head_is_a_500_and_logged(caplog) -> None:
    def app(environ, start_response):
        raise ZeroDivisionError("boom")

    with caplog.at_level(logging.ERROR, logger="py_buffer.serve"):
        result = serve_once(app, request(), Client())
    assert (result.status, result.body, result.end) == (500, b"Internal Server Error", "finish")
    record = next(r for r in caplog.records if r.name == "py_buffer.serve")
    assert record.exc_info[0] is ZeroDivisionError


def test_body_not_consumed_is_reported() -> None:
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"ignored the body"]

    client = Client([b"x" * 10, b"y" * 10], content_length=20)
    result = serve_once(app, request("POST"), client)
    assert result.end_arg is False
    assert client.body.closed  # the adapter ends the body's reader


# --- file_wrapper -----------------------------------------------------------------------------


class CountingFile(io.BytesIO):
    closes = 0

    def close(self) -> None:
        self.closes += 1
        super().close()


def test_file_wrapper_small_file_is_one_message() -> None:
    f = CountingFile(b"small file")

    def app(environ, start_response):
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](f, 4)

    client = Client()
    result = serve_once(app, request(), client)
    assert client.messages[0] == ("start", (200, b"OK"), [], b"small file", False)
    assert f.closes == 1 and result.body == b"small file"


def test_file_wrapper_streams_a_large_file() -> None:
    data = os.urandom(3 * 65536 + 17)
    with tempfile.NamedTemporaryFile() as tmp:
        tmp.write(data)
        tmp.flush()
        f = open(tmp.name, "rb")

        def app(environ, start_response):
            start_response("200 OK", [])
            return environ["wsgi.file_wrapper"](f)

        client = Client(bound=65536)
        result = serve_once(app, request(), client)
    assert (result.body, result.more) == (data, True)
    assert f.closed and client.max_unread <= 65536


# --- clients leaving --------------------------------------------------------------------------


def test_client_leaves_mid_response(caplog) -> None:
    made: List[Closing] = []
    sent = []

    def forever():
        i = 0
        while True:
            sent.append(i)
            yield b"%08d" % i
            i += 1

    def app(environ, start_response):
        start_response("200 OK", [])
        made.append(Closing(forever()))
        return made[0]

    client = Client(bound=64, read_size=16, leave_after=1000)
    with caplog.at_level(logging.DEBUG, logger="py_buffer.serve"):
        result = serve_once(app, request(), client)
    assert result.end == "fail" and "BrokenPipeError" in result.end_arg
    assert made[0].closed == 1
    assert result.body == b"".join(b"%08d" % i for i in range(len(result.body) // 8))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("before_read", [False, True], ids=["mid-body", "before-read"])
def test_client_leaves_mid_body(before_read) -> None:
    errors: List[BaseException] = []
    client = Client([] if before_read else [b"part of the body"], content_length=100, body_end="abort")
    if before_read:
        client.producer.join()

    def app(environ, start_response):
        try:
            environ["wsgi.input"].read()
        except BodyAborted as e:
            errors.append(e)
            raise
        start_response("200 OK", [])
        return [b"unreachable"]

    result = serve_once(app, request("POST"), client)
    assert len(errors) == 1
    assert result.end == "fail" and "BodyAborted" in result.end_arg


# --- frameworks -------------------------------------------------------------------------------

FLASK = flask.Flask(__name__)


@FLASK.post("/upload")
def flask_upload():
    files = {k: [f.filename, hashlib.sha256(f.read()).hexdigest()] for k, f in flask.request.files.items(multi=True)}
    return flask.jsonify(form=flask.request.form.to_dict(flat=False), files=files)


@FLASK.get("/stream")
def flask_stream():
    n = int(flask.request.args["n"])

    def generate():
        for i in range(n):
            yield f"line {i}\n"

    return flask.Response(flask.stream_with_context(generate()), mimetype="text/plain")


def upload_request(path: bytes, body_len: int) -> Dict[str, Any]:
    return request(
        "POST", path, [(b"Content-Type", MULTIPART.encode()), (b"Content-Length", str(body_len).encode())]
    )


def serve_chunked(app, path: bytes, chunks: List[bytes]):
    client = Client(chunks, content_length=len(BODY))
    return serve_once(app, upload_request(path, len(BODY)), client)


def test_flask_upload_in_every_chunking() -> None:
    whole = serve_chunked(FLASK.wsgi_app, b"/upload", [BODY])
    assert whole.status == 200
    parsed = json.loads(whole.body)
    assert parsed["files"]["upload"] == ["data.bin", hashlib.sha256(FILE_DATA).hexdigest()]
    assert parsed["form"]["name"] == ["value", "second"]
    for name, chunks in CHUNKINGS.items():
        assert serve_chunked(FLASK.wsgi_app, b"/upload", chunks).body == whole.body, name


def test_flask_streaming_response() -> None:
    client = Client(bound=256, read_size=10)
    result = serve_once(FLASK.wsgi_app, request("GET", b"/stream", query_string=b"n=500"), client)
    assert result.status == 200 and result.more
    assert result.header(b"Content-Type") == b"text/plain; charset=utf-8"
    assert result.body == b"".join(b"line %d\n" % i for i in range(500))
    assert client.max_unread <= 256


def django_form(request):
    files = {k: [f.name, hashlib.sha256(f.read()).hexdigest()] for k, f in request.FILES.items()}
    return HttpResponse(json.dumps({"post": dict(request.POST.lists()), "files": files}), content_type="application/json")


def django_stream(request):
    return StreamingHttpResponse((b"chunk %d;" % i for i in range(300)), content_type="text/plain")


urlpatterns = [django_path("form", django_form), django_path("stream", django_stream)]


@override_settings(ROOT_URLCONF=__name__)
def test_django_post_files_in_every_chunking() -> None:
    app = WSGIHandler()
    whole = serve_chunked(app, b"/form", [BODY])
    assert whole.status == 200, whole.body
    parsed = json.loads(whole.body)
    assert parsed["post"]["name"] == ["value", "second"]
    assert parsed["files"]["upload"] == ["data.bin", hashlib.sha256(FILE_DATA).hexdigest()]
    for name, chunks in CHUNKINGS.items():
        assert serve_chunked(app, b"/form", chunks).body == whole.body, name


@override_settings(ROOT_URLCONF=__name__)
def test_django_streaming_response() -> None:
    client = Client(bound=128, read_size=7)
    result = serve_once(WSGIHandler(), request("GET", b"/stream"), client)
    assert result.status == 200 and result.more and result.end == "finish"
    assert result.body == b"".join(b"chunk %d;" % i for i in range(300))
    assert client.max_unread <= 128


# --- many at once, and the server entry point ---------------------------------------------------


def echo(environ, start_response):
    """Streams the body back in pieces, with its sha256 at the end."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    h = hashlib.sha256()
    while True:
        chunk = environ["wsgi.input"].read1(1000)
        if not chunk:
            break
        h.update(chunk)
        yield chunk
    yield h.hexdigest().encode()


def test_100_concurrent_requests() -> None:
    bodies = [os.urandom(5000 + i * 37) for i in range(100)]
    clients = [Client([b[j : j + 999] for j in range(0, len(b), 999)], bound=2048, read_size=333) for b in bodies]
    adapter = WsgiAdapter(echo)
    threads = [
        threading.Thread(target=adapter, args=(request("POST"), c.body, c.responder), daemon=True)
        for c in clients
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for body, client in zip(bodies, clients):
        result = client.result()
        assert result.body == body + hashlib.sha256(body).hexdigest().encode()
        assert client.max_unread <= 2048


def test_serve_entry_point_by_name() -> None:
    client = Client([b"by ", b"name"])
    serve.wsgi(f"{__name__}:echo", request("POST"), client.body, client.response, client.send)
    result = client.result()
    assert result.body == b"by name" + hashlib.sha256(b"by name").hexdigest().encode()
    with pytest.raises(ValueError):
        serve.load("no-colon")


def test_sender_forms(monkeypatch) -> None:
    import sys
    import types

    sent: List[Any] = []
    fake = types.ModuleType("erlang")
    fake.send = lambda pid, message: sent.append((pid, message))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "erlang", fake)
    serve.sender("pid")(("finish", True))
    serve.sender(("pid", "ref"))(("finish", True))
    assert sent == [("pid", ("finish", True)), ("pid", ("ref", ("finish", True)))]
    assert serve.sender(sent.append) == sent.append


@pytest.mark.parametrize("line, sent", [
    ("404 NOT FOUND", (404, b"NOT FOUND")),   # werkzeug's phrases, as gunicorn sends them
    ("299 Custom Thing", (299, b"Custom Thing")),
    ("200 caf\xe9", (200, b"caf\xe9")),        # obs-text: Latin-1 on the wire
    ("200 ", 200),                             # no phrase: the server's own
    ("200", 200),
])
def test_the_apps_reason_phrase_goes_with_the_code(line, sent) -> None:
    def app(environ, start_response):
        start_response(line, [])
        return [b"x"]

    client = Client()
    result = serve_once(app, request(), client)
    assert client.messages[0][:2] == ("start", sent)
    assert (result.status, result.phrase) == (sent if isinstance(sent, tuple) else (sent, None))


@pytest.mark.parametrize("line", ["200 OK\r\nX-Injected: 1", "200 a\x00b", "200 tab\x7f"])
def test_a_reason_phrase_with_a_control_character_is_a_500(line, caplog) -> None:
    def app(environ, start_response):
        start_response(line, [])
        return [b"x"]

    client = Client()
    serve_once(app, request(), client)
    assert client.messages[0][:2] == ("start", 500)
