"""The WSGI app of ``make demo`` and the HTTP tests: Flask, unmodified, as any WSGI server
runs it (``py-buffer-serve --app-dir examples/python http_flask:app``).

- ``POST /upload``: reads the body from ``request.stream`` 64 KiB at a time and answers
  JSON ``{"bytes": n, "sha256": hex}``.
- ``GET /download?size=N``: streams N bytes of `pattern` (64 KiB blocks, no length).
- ``POST /echo``: the body back (``request.get_data()``).
- ``GET /``: ``hello``.
"""

import hashlib

from flask import Flask, Response, jsonify, request

app = Flask(__name__)

#: The download's bytes: this block, repeated, cut at the size asked for.
BLOCK = bytes(range(256)) * 256


def pattern(size):
    """The first `size` bytes of the download, as 64 KiB blocks."""
    while size > 0:
        block = BLOCK[:size]
        size -= len(block)
        yield block


@app.get("/")
def hello():
    return "hello\n"


@app.post("/upload")
def upload():
    digest = hashlib.sha256()
    size = 0
    stream = request.stream
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    return jsonify(bytes=size, sha256=digest.hexdigest())


@app.post("/echo")
def echo():
    return Response(request.get_data(), mimetype="application/octet-stream")


@app.get("/download")
def download():
    size = int(request.args.get("size", 1 << 20))
    return Response(pattern(size), mimetype="application/octet-stream")
