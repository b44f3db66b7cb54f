"""An unmodified Flask app: a form upload (``request.files``) and a generator response. Used
by the EUnit tests of ``py_request`` (nif/test/py_request_frameworks_tests.erl)."""
import hashlib

from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/upload")
def upload():
    f = request.files["file"]
    data = f.read()
    return {"title": request.form["title"], "filename": f.filename,
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@app.get("/stream")
def stream():
    n = int(request.args.get("n", 8))

    def gen():
        for i in range(n):
            yield ("line %d\n" % i).encode() * 1000
    return Response(gen(), mimetype="text/plain")
