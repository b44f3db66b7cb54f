"""Unmodified Starlette and FastAPI apps: UploadFile, StreamingResponse, lifespan state."""
import contextlib
import hashlib

from fastapi import FastAPI, File, Form, UploadFile
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


starlette_app = Starlette(routes=[Route("/upload", _upload, methods=["POST"]),
                                  Route("/stream", _stream)],
                          lifespan=_lifespan)

fastapi_app = FastAPI()


@fastapi_app.post("/upload")
async def fastapi_upload(title: str = Form(...), file: UploadFile = File(...)):
    data = await file.read()
    return {"title": title, "filename": file.filename, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


@fastapi_app.get("/stream")
async def fastapi_stream(n: int = 8):
    async def gen():
        for i in range(n):
            yield ("item %d\n" % i).encode() * 700
    return StreamingResponse(gen(), media_type="text/plain")
