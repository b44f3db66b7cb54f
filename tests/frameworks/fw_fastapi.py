"""An unmodified FastAPI app: ``UploadFile`` (multipart, spooled), a ``StreamingResponse`` of
lines and one of bytes. Shared by the EUnit tests of ``py_request``
(nif/test/py_request_frameworks_tests.erl) and the HTTP tests of py-buffer-serve
(serve/tests/test_frameworks.py)."""

import hashlib

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import StreamingResponse

app = FastAPI()
BLOCK = bytes(range(256)) * 256


@app.post("/upload")
async def upload(file: UploadFile = File(...), title: str = Form("")):
    digest = hashlib.sha256()
    size = 0
    while chunk := await file.read(65536):
        digest.update(chunk)
        size += len(chunk)
    return {"title": title, "filename": file.filename, "size": size,
            "sha256": digest.hexdigest()}


@app.get("/stream")
async def stream(n: int = 8):
    async def lines():
        for i in range(n):
            yield ("item %d\n" % i).encode() * 700
    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/download")
async def download(size: int = 1 << 20):
    async def blocks():
        left = size
        while left > 0:
            block = BLOCK[:left]
            left -= len(block)
            yield block
    return StreamingResponse(blocks(), media_type="application/octet-stream")
