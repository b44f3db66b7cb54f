"""Real WSGI clients, unmodified, with PyBuffer as wsgi.input fed by a producer thread.

Each parse must give exactly what the same body in io.BytesIO gives, in every chunking (whole,
one byte at a time, a CRLF split across chunks, a boundary split across chunks, random). A
truncated or aborted body must surface as an error (the framework's own where it has one),
never as a silently short body.
"""

from __future__ import annotations

import io
import sys
import warnings
import wsgiref.validate
from typing import Callable, Dict, List

import pytest

import py_buffer
from py_buffer import BodyAborted, BodyTruncated

from conftest import chunkings, fed

with warnings.catch_warnings():
    # WebOb 1.8 imports the stdlib `cgi` module, deprecated since Python 3.11.
    warnings.simplefilter("ignore", DeprecationWarning)
    import webob

import django
import flask
import python_multipart
import werkzeug.exceptions
from django.conf import settings
from werkzeug.formparser import parse_form_data
from werkzeug.wrappers import Request as WerkzeugRequest

if not settings.configured:
    settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], DEFAULT_CHARSET="utf-8")
    django.setup()
from django.core.handlers.wsgi import WSGIRequest  # noqa: E402
from django.http import UnreadablePostError  # noqa: E402

BOUNDARY = b"----PyBufferBoundary7MA4YWxk"


def field(name: bytes, value: bytes) -> bytes:
    return (
        b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"" + name + b"\"\r\n\r\n" + value + b"\r\n"
    )


def file_part(name: bytes, filename: bytes, data: bytes, ctype: bytes = b"application/octet-stream") -> bytes:
    return (
        b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"" + name + b"\"; filename=\""
        + filename + b"\"\r\nContent-Type: " + ctype + b"\r\n\r\n" + data + b"\r\n"
    )


FILE_DATA = bytes(range(256)) + b"\r\n--not-the-boundary\r\n" + b"line\n" * 20
BODY = (
    field(b"name", b"value")
    + field(b"multi", b"line one\r\nline two")
    + file_part(b"upload", b"data.bin", FILE_DATA)
    + file_part(b"notes", b"notes.txt", b"plain text\n", b"text/plain")
    + field(b"name", b"second")
    + b"--" + BOUNDARY + b"--\r\n"
)
CRLF_AT = BODY.index(b"\r\n") + 1
BOUNDARY_AT = BODY.index(BOUNDARY, 10) + len(BOUNDARY) // 2
CHUNKINGS = chunkings(BODY, [CRLF_AT, BOUNDARY_AT, BODY.index(b"\r\n\r\n") + 2, len(BODY) - 3], seed=3)
TEXT_BODY = b"first line\nsecond line\r\nno newline at end"


def environ(stream, body: bytes = BODY, content_type: str = "multipart/form-data; boundary=" + BOUNDARY.decode()) -> dict:
    env = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/upload",
        "QUERY_STRING": "",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    return env


# --- one parse per client, normalised to plain data ---------------------------------------


def werkzeug_parse_form_data(stream, body=BODY):
    _, form, files = parse_form_data(environ(stream, body))
    try:
        return form.to_dict(flat=False), {k: (f.filename, f.mimetype, f.read()) for k, f in files.items(multi=True)}
    finally:
        for f in files.values():
            f.close()


def werkzeug_request(stream, body=BODY):
    request = WerkzeugRequest(environ(stream, body))
    try:
        return request.form.to_dict(flat=False), {k: (f.filename, f.read()) for k, f in request.files.items(multi=True)}
    finally:
        request.close()


def werkzeug_get_data(stream, body=BODY):
    return WerkzeugRequest(environ(stream, body)).get_data()


FLASK_APP = flask.Flask("py_buffer_tests")


def flask_files(stream, body=BODY):
    with FLASK_APP.request_context(environ(stream, body)):
        try:
            return flask.request.form.to_dict(flat=False), {
                k: (f.filename, f.read()) for k, f in flask.request.files.items(multi=True)
            }
        finally:
            flask.request.close()


def django_post_files(stream, body=BODY):
    request = WSGIRequest(environ(stream, body))
    post = {k: request.POST.getlist(k) for k in request.POST}
    files = {k: [(f.name, f.content_type, f.read()) for f in request.FILES.getlist(k)] for k in request.FILES}
    request.close()
    return post, files


def django_body(stream, body=BODY):
    return WSGIRequest(environ(stream, body)).body


def python_multipart_parse_form(stream, body=BODY):
    out: List[tuple] = []

    def on_field(f):
        out.append(("field", f.field_name, f.value))

    def on_file(f):
        fo = f.file_object
        fo.seek(0)
        out.append(("file", f.field_name, f.file_name, fo.read()))
        f.close()

    headers = {
        "Content-Type": b"multipart/form-data; boundary=" + BOUNDARY,
        "Content-Length": str(len(body)).encode(),
    }
    python_multipart.parse_form(headers, stream, on_field, on_file)
    return out


def webob_post(stream, body=BODY):
    post = webob.Request(environ(stream, body)).POST
    return [(k, v if isinstance(v, str) else (v.filename, v.file.read())) for k, v in post.items()]


def wsgiref_validate(stream, body=TEXT_BODY):
    """An application behind wsgiref.validate (which checks every call and return type)
    reading the input with read(n), readline(), readline(size), readlines() and iteration."""
    seen: Dict[str, object] = {}

    def app(env, start_response):
        inp = env["wsgi.input"]
        seen["head"] = inp.read(3)
        seen["line"] = inp.readline()
        seen["limited"] = inp.readline(4)
        seen["lines"] = inp.readlines(1)
        seen["rest"] = list(inp)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    validated = wsgiref.validate.validator(app)
    env = environ(stream, body, "text/plain")
    result = validated(env, lambda status, headers, exc_info=None: (lambda data: None))
    try:
        assert list(result) == [b"ok"]
    finally:
        result.close()
    return seen


CLIENTS: Dict[str, Callable] = {
    "wsgiref.validate": wsgiref_validate,
    "werkzeug.parse_form_data": werkzeug_parse_form_data,
    "werkzeug.Request.form+files": werkzeug_request,
    "werkzeug.get_data": werkzeug_get_data,
    "flask.request.files": flask_files,
    "django.POST+FILES": django_post_files,
    "django.body": django_body,
    "python-multipart.parse_form": python_multipart_parse_form,
    "webob.POST": webob_post,
}


def body_for(client: str) -> bytes:
    return TEXT_BODY if client == "wsgiref.validate" else BODY


def chunkings_for(client: str) -> Dict[str, List[bytes]]:
    if client == "wsgiref.validate":
        return chunkings(TEXT_BODY, [TEXT_BODY.index(b"\r\n") + 1, 5], seed=1)
    return CHUNKINGS


def expected(client: str):
    return CLIENTS[client](io.BytesIO(body_for(client)), body_for(client))


CASES = [(client, name) for client in CLIENTS for name in chunkings_for(client)]


@pytest.mark.parametrize("client,chunking", CASES)
def test_same_result_as_bytesio(client, chunking):
    body = body_for(client)
    buf, producer = fed(body, chunkings_for(client)[chunking])
    got = CLIENTS[client](buf, body)
    producer.join_ok()
    assert got == expected(client)
    assert buf.tell() == len(body), "the whole body was consumed"


def test_expected_results_are_meaningful():
    post, files = django_post_files(io.BytesIO(BODY))
    assert post == {"name": ["value", "second"], "multi": ["line one\r\nline two"]}
    assert files["upload"] == [("data.bin", "application/octet-stream", FILE_DATA)]
    seen = wsgiref_validate(io.BytesIO(TEXT_BODY))
    assert seen == {
        "head": b"fir",
        "line": b"st line\n",
        "limited": b"seco",
        "lines": [b"nd line\r\n"],
        "rest": [b"no newline at end"],
    }


def test_werkzeug_chunked_body_with_input_terminated():
    buf, producer = fed(BODY, CHUNKINGS["random"], content_length=False)
    env = environ(buf)
    del env["CONTENT_LENGTH"]
    env["wsgi.input_terminated"] = True
    request = WerkzeugRequest(env)
    try:
        assert request.files["upload"].read() == FILE_DATA
        assert request.form.getlist("name") == ["value", "second"]
    finally:
        request.close()
    producer.join_ok()


# --- failed bodies ------------------------------------------------------------------------

# The error each client raises for a body that fails half-way. Werkzeug and Django turn the
# OSError into their own disconnect errors; python-multipart and wsgiref have none and let ours
# through; WebOb raises its DisconnectionError only for a short read, which PyBuffer never
# gives, so it lets ours through too (an OSError, like its own).
FAILURE = {
    "wsgiref.validate": (BodyTruncated, BodyAborted),
    "werkzeug.parse_form_data": werkzeug.exceptions.ClientDisconnected,
    "werkzeug.Request.form+files": werkzeug.exceptions.ClientDisconnected,
    "werkzeug.get_data": werkzeug.exceptions.ClientDisconnected,
    "flask.request.files": werkzeug.exceptions.ClientDisconnected,
    "django.POST+FILES": UnreadablePostError,
    "django.body": UnreadablePostError,
    "python-multipart.parse_form": (BodyTruncated, BodyAborted),
    "webob.POST": (BodyTruncated, BodyAborted),
}


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("end", ["truncated", "aborted", "writer-dropped"])
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_failed_body_is_an_error_never_a_short_body(client, end):
    body = body_for(client)
    half = body[: len(body) // 2]
    buf = py_buffer.PyBuffer(len(body))
    writer = buf.writer()
    writer.write(half[:10])
    producer_end = {"truncated": "close", "aborted": "abort", "writer-dropped": "drop"}[end]
    import conftest

    producer = conftest.Producer(writer, [half[10:]], end=producer_end)
    del writer
    producer.start()
    with pytest.raises(FAILURE[client]) as info:
        CLIENTS[client](buf, body)
    producer.join_ok()
    cause = info.value
    chain = []
    while cause is not None:
        chain.append(type(cause))
        cause = cause.__cause__ or cause.__context__
    assert any(issubclass(t, (BodyTruncated, BodyAborted)) for t in chain), chain
    # Everything that did arrive is still accounted for: nothing was silently dropped.
    assert buf.tell() <= len(half)
