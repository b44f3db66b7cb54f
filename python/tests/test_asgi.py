"""ASGI: `py_buffer.asgi.receive` (and `buf.asgi_receive()`) driving real applications,
unmodified: Starlette `Request.stream()` / `.body()` / `.form()` (multipart through
python-multipart), a FastAPI `UploadFile` endpoint, and Django's `ASGIHandler`. Bodies fed by a
producer thread in many chunkings give exactly the single-message result; a failed body
surfaces as the framework's disconnect error; after the body, `receive()` waits for the end of
the request and then returns `http.disconnect`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest

import py_buffer
from py_buffer import PyBuffer

from conftest import chunkings, fed

import django
from django.conf import settings

if not settings.configured:
    settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], DEFAULT_CHARSET="utf-8")
    django.setup()

from django.core.exceptions import RequestAborted  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import path as django_path  # noqa: E402
from fastapi import FastAPI, File, Form, UploadFile  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import ClientDisconnect, Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

BOUNDARY = b"----PyBufferAsgiBoundary9x"
MULTIPART = "multipart/form-data; boundary=" + BOUNDARY.decode()


def field(name: bytes, value: bytes) -> bytes:
    return b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value + b"\r\n"


def file_part(name: bytes, filename: bytes, data: bytes) -> bytes:
    return (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + name + b'"; filename="' + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n"
    )


FILE_DATA = bytes(range(256)) * 3 + b"\r\n--not-the-boundary\r\n" + b"line\n" * 30
BODY = (
    field(b"name", b"value")
    + file_part(b"file", b"data.bin", FILE_DATA)
    + field(b"other", b"line one\r\nline two")
    + b"--" + BOUNDARY + b"--\r\n"
)
SPECIAL = [BODY.index(b"\r\n") + 1, BODY.index(BOUNDARY, 10) + 5, BODY.index(b"\r\n\r\n") + 2, len(BODY) - 3]
CHUNKINGS = chunkings(BODY, SPECIAL, seed=4)


# --- the applications ---------------------------------------------------------------------------


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def starlette_stream(request: Request) -> Response:
    parts = [c async for c in request.stream()]
    data = b"".join(parts)
    return JSONResponse({"len": len(data), "sha": digest(data)})


async def starlette_body(request: Request) -> Response:
    data = await request.body()
    return JSONResponse({"len": len(data), "sha": digest(data)})


async def starlette_form(request: Request) -> Response:
    form = await request.form()
    out: Dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
        else:
            out.setdefault(key, []).append([value.filename, digest(await value.read())])
    await form.close()
    return JSONResponse(out)


STARLETTE = Starlette(
    routes=[
        Route("/stream", starlette_stream, methods=["POST"]),
        Route("/body", starlette_body, methods=["POST"]),
        Route("/form", starlette_form, methods=["POST"]),
    ]
)

FASTAPI = FastAPI()


@FASTAPI.post("/upload")
async def fastapi_upload(file: UploadFile = File(...), name: str = Form(...), other: str = Form(...)):
    data = await file.read()
    return {"filename": file.filename, "size": len(data), "sha": digest(data), "name": name, "other": other}


def django_view(request):
    files = {k: [f.name, digest(f.read())] for k, f in request.FILES.items()}
    return HttpResponse(json.dumps({"post": dict(request.POST.lists()), "files": files}), content_type="application/json")


def django_body_view(request):
    return HttpResponse(json.dumps({"len": len(request.body), "sha": digest(request.body)}))


urlpatterns = [django_path("form", django_view), django_path("body", django_body_view)]
DJANGO_URLS = __name__  # this module is Django's URLconf
DJANGO = ASGIHandler()


# --- a minimal server: a producer thread writes the body, the app reads it through receive ------


def scope(path: str, body: bytes, content_type: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }


def serve(app, path: str, chunks: List[bytes], *, body: bytes = BODY, content_type: str = MULTIPART,
          chunk_size: int = 65536, end: str = "close") -> Tuple[int, Any]:
    """Runs one request; returns (status, decoded JSON body)."""
    sent: List[dict] = []

    async def main():
        buf, producer = fed(body, chunks, end=end)

        async def send(message: dict) -> None:
            sent.append(message)

        receive = py_buffer.asgi.receive(buf, chunk_size=chunk_size)
        try:
            with override_settings(ROOT_URLCONF=DJANGO_URLS):
                await app(scope(path, body, content_type), receive, send)
        finally:
            buf.close()  # the request is over
            producer.join(10)

    asyncio.run(main())
    start = next(m for m in sent if m["type"] == "http.response.start")
    data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(data) if data else None


APPS = {
    "starlette.stream": (STARLETTE, "/stream"),
    "starlette.body": (STARLETTE, "/body"),
    "starlette.form": (STARLETTE, "/form"),
    "fastapi.UploadFile": (FASTAPI, "/upload"),
    "django.POST+FILES": (DJANGO, "/form"),
    "django.body": (DJANGO, "/body"),
}
SINGLE: Dict[str, Tuple[int, Any]] = {}


def single_message_result(name: str) -> Tuple[int, Any]:
    if name not in SINGLE:
        app, path = APPS[name]
        SINGLE[name] = serve(app, path, [BODY], chunk_size=1 << 20)
    return SINGLE[name]


@pytest.mark.parametrize("chunk_size", [65536, 7])
@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("name", APPS)
def test_same_result_as_a_single_message(name, chunking, chunk_size):
    app, path = APPS[name]
    expect = single_message_result(name)
    assert serve(app, path, CHUNKINGS[chunking], chunk_size=chunk_size) == expect


def test_single_message_results_are_meaningful():
    assert single_message_result("starlette.body") == (200, {"len": len(BODY), "sha": digest(BODY)})
    assert single_message_result("starlette.stream") == (200, {"len": len(BODY), "sha": digest(BODY)})
    assert single_message_result("starlette.form") == (
        200,
        {"name": ["value"], "file": [["data.bin", digest(FILE_DATA)]], "other": ["line one\r\nline two"]},
    )
    assert single_message_result("fastapi.UploadFile") == (
        200,
        {"filename": "data.bin", "size": len(FILE_DATA), "sha": digest(FILE_DATA), "name": "value",
         "other": "line one\r\nline two"},
    )
    assert single_message_result("django.POST+FILES") == (
        200,
        {"post": {"name": ["value"], "other": ["line one\r\nline two"]}, "files": {"file": ["data.bin", digest(FILE_DATA)]}},
    )
    assert single_message_result("django.body") == (200, {"len": len(BODY), "sha": digest(BODY)})


# --- failed bodies: the framework's disconnect error ----------------------------------------------


@pytest.mark.parametrize("end", ["abort", "close", "drop"])  # close before Content-Length: truncated
@pytest.mark.parametrize("method", ["stream", "body", "form"])
def test_failed_body_is_starlette_client_disconnect(method, end):
    async def main():
        buf, producer = fed(BODY, [BODY[:100], BODY[100:200]], end=end)
        request = Request(scope("/", BODY, MULTIPART), py_buffer.asgi.receive(buf, chunk_size=64))
        with pytest.raises(ClientDisconnect):
            if method == "stream":
                async for _ in request.stream():
                    pass
            elif method == "body":
                await request.body()
            else:
                await request.form()
        producer.join_ok()

    asyncio.run(main())


@pytest.mark.parametrize("end", ["abort", "close"])
def test_failed_body_is_django_request_aborted(end):
    async def main():
        buf, producer = fed(BODY, [BODY[:100], BODY[100:150]], end=end)
        receive = py_buffer.asgi.receive(buf, chunk_size=64)
        with pytest.raises(RequestAborted):
            await DJANGO.read_body(receive)
        producer.join_ok()

    asyncio.run(main())
    # Driven whole, Django drops the aborted request without a response.
    sent: List[dict] = []

    async def whole():
        buf, producer = fed(BODY, [BODY[:100]], end=end)

        async def send(message):
            sent.append(message)

        with override_settings(ROOT_URLCONF=DJANGO_URLS):
            await DJANGO(scope("/form", BODY, MULTIPART), py_buffer.asgi.receive(buf), send)
        producer.join_ok()

    asyncio.run(whole())
    assert sent == []


def test_fastapi_aborted_upload_is_a_disconnect():
    """FastAPI parses the form before the endpoint runs; it turns the ClientDisconnect raised
    there into a 400 `HTTPException` (raised *from* the ClientDisconnect) and never calls the
    endpoint."""
    from starlette.exceptions import HTTPException

    called, causes = [], []
    app = FastAPI()

    @app.post("/upload")
    async def upload(file: UploadFile = File(...)):
        called.append(file)
        return {}

    @app.exception_handler(HTTPException)
    async def record(request, exc):
        causes.append(exc.__cause__)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    async def main():
        buf, producer = fed(BODY, [BODY[:300]], end="abort")
        sent: List[dict] = []

        async def send(message):
            sent.append(message)

        await app(scope("/upload", BODY, MULTIPART), py_buffer.asgi.receive(buf), send)
        producer.join_ok()
        return sent[0]["status"]

    assert asyncio.run(main()) == 400
    assert called == []
    assert len(causes) == 1 and isinstance(causes[0], ClientDisconnect)


# --- the receive callable itself ------------------------------------------------------------------


def test_messages_and_disconnect_after_the_body():
    async def main():
        buf = PyBuffer()
        w = buf.writer()
        receive = buf.asgi_receive(chunk_size=4)
        w.write(b"abcdef")
        assert await receive() == {"type": "http.request", "body": b"abcd", "more_body": True}
        assert await receive() == {"type": "http.request", "body": b"ef", "more_body": True}
        threading.Timer(0.02, lambda: w.write(b"gh")).start()
        assert await receive() == {"type": "http.request", "body": b"gh", "more_body": True}
        threading.Timer(0.02, w.close).start()
        assert await receive() == {"type": "http.request", "body": b"", "more_body": False}
        # The body is complete: receive() now waits for the end of the request.
        pending = asyncio.ensure_future(receive())
        await asyncio.sleep(0.05)
        assert not pending.done()
        threading.Timer(0.01, buf.close).start()  # the server ends the request
        assert await pending == {"type": "http.disconnect"}
        assert await receive() == {"type": "http.disconnect"}

    asyncio.run(main())


def test_content_length_body_ends_with_its_last_chunk():
    async def main():
        buf = PyBuffer(6)
        w = buf.writer()
        receive = py_buffer.asgi.receive(buf)
        w.write(b"abc")
        assert await receive() == {"type": "http.request", "body": b"abc", "more_body": True}
        threading.Timer(0.01, lambda: w.write(b"def")).start()
        assert await receive() == {"type": "http.request", "body": b"def", "more_body": False}
        # A client that goes away after its body: the producer aborts, the app is told.
        threading.Timer(0.01, lambda: w.abort("client gone")).start()
        assert await receive() == {"type": "http.disconnect"}

    asyncio.run(main())


@pytest.mark.parametrize("end", ["abort", "close", "drop"])
def test_failed_body_yields_disconnect_after_the_bytes_that_arrived(end):
    async def main():
        buf, producer = fed(b"x" * 10, [b"abc"], end=end)
        producer.join_ok()
        receive = py_buffer.asgi.receive(buf)
        assert await receive() == {"type": "http.request", "body": b"abc", "more_body": True}
        assert await receive() == {"type": "http.disconnect"}
        assert await receive() == {"type": "http.disconnect"}

    asyncio.run(main())


def test_empty_body():
    async def main():
        receive = py_buffer.asgi.receive(PyBuffer(0))
        assert await receive() == {"type": "http.request", "body": b"", "more_body": False}

    asyncio.run(main())


@pytest.mark.parametrize("stage", ["body", "after_body"])
def test_cancelled_receive_propagates_and_loses_nothing(stage):
    async def main():
        buf = PyBuffer()
        w = buf.writer()
        receive = py_buffer.asgi.receive(buf)
        if stage == "after_body":
            w.write(b"all")
            w.close()
            assert (await receive())["body"] == b"all"
        task = asyncio.ensure_future(receive())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        if stage == "body":
            w.write(b"later")
            w.close()
            assert await receive() == {"type": "http.request", "body": b"later", "more_body": False}
        buf.close()
        assert await receive() == {"type": "http.disconnect"}

    asyncio.run(main())


def test_bad_chunk_size():
    with pytest.raises(ValueError):
        py_buffer.asgi.receive(PyBuffer(), chunk_size=0)


def test_receive_waits_without_polling():
    """A receive() parked after the body, idle for 0.5 s, costs (almost) no CPU."""

    async def main():
        buf = PyBuffer.from_bytes(b"x")
        receive = buf.asgi_receive()
        await receive()
        pending = asyncio.ensure_future(receive())
        c0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(0.5)
        share = (time.process_time() - c0) / (time.monotonic() - t0)
        buf.close()
        assert await pending == {"type": "http.disconnect"}
        return share

    assert asyncio.run(main()) < 0.05
