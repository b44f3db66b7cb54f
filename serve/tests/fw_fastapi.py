"""A FastAPI app: ``UploadFile`` (multipart, spooled) and a ``StreamingResponse``."""

import hashlib

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import StreamingResponse

app = FastAPI()
BLOCK = bytes(range(256)) * 256


@app.post("/upload")
async def upload(file: UploadFile = File(...), field: str = Form("")):
    digest = hashlib.sha256()
    size = 0
    while chunk := await file.read(65536):
        digest.update(chunk)
        size += len(chunk)
    return {"name": file.filename, "size": size, "sha256": digest.hexdigest(), "field": field}


@app.get("/stream")
async def stream(size: int = 1 << 20):
    async def blocks():
        left = size
        while left > 0:
            block = BLOCK[:left]
            left -= len(block)
            yield block
    return StreamingResponse(blocks(), media_type="application/octet-stream")
