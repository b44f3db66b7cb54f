"""The ASGI app of ``make demo`` and the HTTP tests: Starlette, unmodified, as any ASGI server
runs it (``py-buffer-serve --interface asgi --app-dir examples/python http_starlette:app``).

- ``POST /upload``: reads the body with ``request.stream()`` and answers JSON
  ``{"bytes": n, "sha256": hex}``.
- ``GET /download?size=N``: a ``StreamingResponse`` of N bytes of the same pattern as
  `http_flask` (64 KiB blocks).
- ``POST /echo``: the body back; ``GET /``: ``hello``.
"""

import hashlib

from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

BLOCK = bytes(range(256)) * 256


async def pattern(size):
    while size > 0:
        block = BLOCK[:size]
        size -= len(block)
        yield block


async def hello(request):
    return PlainTextResponse("hello\n")


async def upload(request):
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return JSONResponse({"bytes": size, "sha256": digest.hexdigest()})


async def echo(request):
    return Response(await request.body(), media_type="application/octet-stream")


async def download(request):
    size = int(request.query_params.get("size", 1 << 20))
    return StreamingResponse(pattern(size), media_type="application/octet-stream")


app = Starlette(routes=[
    Route("/", hello),
    Route("/upload", upload, methods=["POST"]),
    Route("/echo", echo, methods=["POST"]),
    Route("/download", download),
])
