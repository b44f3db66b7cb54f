"""An unmodified Starlette app (``app``): a form upload (``request.form()``), a
``StreamingResponse`` and lifespan state. Used by the EUnit tests of ``py_request``
(nif/test/py_request_frameworks_tests.erl)."""
import contextlib
import hashlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route


async def _upload(request: Request):
    form = await request.form()
    f = form["file"]
    data = await f.read()
    return JSONResponse({"title": form["title"], "filename": f.filename, "size": len(data),
                         "sha256": hashlib.sha256(data).hexdigest(),
                         "state": request.state.greeting})


async def _stream(request: Request):
    n = int(request.query_params.get("n", 8))

    async def gen():
        for i in range(n):
            yield ("chunk %d\n" % i).encode() * 700
    return StreamingResponse(gen(), media_type="text/plain")


@contextlib.asynccontextmanager
async def _lifespan(app):
    yield {"greeting": "started"}


app = Starlette(routes=[Route("/upload", _upload, methods=["POST"]), Route("/stream", _stream)],
                lifespan=_lifespan)
