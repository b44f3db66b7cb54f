"""Unmodified Flask, Django, Starlette and FastAPI apps under py-buffer-serve give the same
bytes as under gunicorn (WSGI) or uvicorn (ASGI): uploads with a length, chunked and
multipart, echoes, streamed downloads."""

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from conftest import EXAMPLES, FRAMEWORKS, Server

DATA = os.urandom((3 << 20) + 5)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Peer:
    def __init__(self, interface, app, app_dir, args=(), env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if interface == "wsgi":
            cmd = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}",
                   "--chdir", app_dir, "-k", "gthread", "--threads", "4", "-w", "1",
                   "--log-level", "warning", *args, app]
        else:
            cmd = [sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "--port",
                   str(self.port), "--log-level", "warning", *args, app]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL,
                                     env=dict(os.environ, **(env or {})))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{cmd} did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


APPS = {
    "flask": ("wsgi", "http_flask:app", EXAMPLES),
    "django": ("wsgi", "fw_django:application", FRAMEWORKS),
    "starlette": ("asgi", "http_starlette:app", EXAMPLES),
    "fastapi": ("asgi", "fw_fastapi:app", FRAMEWORKS),
}


def chunks(data, size=100_000):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def multipart():
    return {"files": {"file": ("data.bin", DATA, "application/octet-stream")},
            "data": {"field": "value é"}}


REQUESTS = {
    "flask": [("HEAD", "/", {}),
              ("POST", "/upload", {"content": DATA}),
              ("POST", "/upload", {"content": "chunked"}),
              ("POST", "/echo", {"content": DATA[:200_000]}),
              ("GET", "/download?size=3145733", {})],
    "django": [("POST", "/upload", "multipart"),
               ("POST", "/raw", {"content": DATA}),
               ("POST", "/raw", {"content": "chunked"})],
    "starlette": [("HEAD", "/", {}),
                  ("POST", "/upload", {"content": DATA}),
                  ("POST", "/upload", {"content": "chunked"}),
                  ("POST", "/echo", {"content": DATA[:200_000]}),
                  ("GET", "/download?size=3145733", {})],
    "fastapi": [("POST", "/upload", "multipart"),
                ("GET", "/download?size=3145733", {})],
}


def run(url, method, path, kw):
    if method == "HEAD":
        r = httpx.head(url + path, timeout=30)
        return r.status_code, r.headers.get("content-type"), r.headers.get("content-length")
    if kw == "multipart":
        kw = multipart()
    elif kw.get("content") == "chunked":
        kw = {"content": chunks(DATA)}
    r = httpx.request(method, url + path, timeout=30, **kw)
    return r.status_code, r.headers.get("content-type"), r.content


@pytest.mark.parametrize("name", list(APPS))
def test_same_bytes_as_the_reference_server(name, tmp_path):
    interface, app, app_dir = APPS[name]
    ours = Server(app, interface=interface, app_dir=app_dir, tmp=str(tmp_path),
                  args=["--log-level", "warning"])
    peer = Peer(interface, app, app_dir)
    try:
        for method, path, kw in REQUESTS[name]:
            got = run(ours.url, method, path, kw)
            want = run(peer.url, method, path, kw)
            assert got[0] == want[0] == 200, (path, got[0], want[0], got[2])
            assert got[1] == want[1], path
            assert got[2] == want[2], (method, path, len(got[2] or ""), len(want[2] or ""))
    finally:
        peer.stop()
        assert ours.stop() == 0, ours.log()


MOUNTED = {
    "wsgi": """
from flask import Flask, jsonify, request, url_for
app = Flask(__name__)

@app.route("/items/<name>")
def item(name):
    return jsonify(name=name, path=request.path, script_root=request.script_root,
                   url=url_for("item", name=name), full=request.url)
""",
    "asgi": """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def item(request):
    return JSONResponse({"name": request.path_params["name"], "path": request.url.path,
                         "root_path": request.scope["root_path"],
                         "url": str(request.url_for("item", name=request.path_params["name"]))})

app = Starlette(routes=[Route("/items/{name}", item, name="item")])
""",
}


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_an_app_mounted_below_a_path_answers_as_under_the_peer(tmp_path, interface):
    # Behind a proxy that strips /api: --root-path /api (uvicorn's option). gunicorn takes
    # SCRIPT_NAME from its environment and wants it still at the start of the path (it
    # answers 500 otherwise): it is asked for /api + path. Routes match the rest of the
    # path, URLs the app builds carry the prefix; every answer is the peer's, byte for
    # byte, the port aside.
    (tmp_path / "mounted.py").write_text(MOUNTED[interface])
    ours = Server("mounted:app", interface=interface, app_dir=str(tmp_path), tmp=str(tmp_path),
                  args=["--root-path", "/api/", "--log-level", "warning"])
    peer = Peer(interface, "mounted:app", str(tmp_path),
                args=["--root-path", "/api"] if interface == "asgi" else [],
                env={"SCRIPT_NAME": "/api"} if interface == "wsgi" else None)
    try:
        for path in ["/items/a%20b", "/items/x?q=1"]:
            mine = httpx.get(ours.url + path)
            theirs = httpx.get(peer.url + ("/api" if interface == "wsgi" else "") + path)
            assert mine.status_code == theirs.status_code == 200
            assert (mine.text.replace(str(ours.port), "PORT")
                    == theirs.text.replace(str(peer.port), "PORT"))
            assert "/api/items/" in mine.json()["url"]
        assert httpx.get(ours.url + "/other").status_code == 404
    finally:
        peer.stop()
        assert ours.stop() == 0


PROXIED = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

async def where(request):
    return JSONResponse({"url": str(request.url), "client": list(request.client),
                         "next": str(request.url_for("where"))})

async def go(request):
    return RedirectResponse(request.url_for("where"))

app = Starlette(routes=[Route("/where", where, name="where"), Route("/go", go)])
"""


def test_behind_a_proxy_the_app_sees_the_proxys_client_and_scheme_as_under_uvicorn(tmp_path):
    # Both with their defaults (proxy headers on, 127.0.0.1 trusted), then both told to
    # trust only 10.0.0.0/8 (the headers are then ignored): the same answers, port aside.
    (tmp_path / "proxied.py").write_text(PROXIED)
    cases = [
        {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7, 10.0.0.2"},
        {"x-forwarded-proto": "https", "x-forwarded-for": "[2001:db8::5]:4711"},
        {"x-forwarded-proto": "gopher", "x-forwarded-for": ""},
        {"x-forwarded-for": "198.51.100.1:8080, 127.0.0.1"},
        {},
    ]
    for args in ([], ["--forwarded-allow-ips", "10.0.0.0/8"]):
        ours = Server("proxied:app", interface="asgi", app_dir=str(tmp_path),
                      tmp=str(tmp_path), args=args + ["--log-level", "warning"])
        peer = Peer("asgi", "proxied:app", str(tmp_path), args=args)
        try:
            for headers in cases:
                answers = []
                for srv in (ours, peer):
                    where = httpx.get(srv.url + "/where", headers=headers).json()
                    if where["client"][0] == "127.0.0.1":
                        where["client"][1] = "PORT"  # the connection's own port
                    go = httpx.get(srv.url + "/go", headers=headers)
                    answers.append(json.loads(json.dumps(
                        [where, go.status_code, go.headers["location"]]
                    ).replace(str(srv.port), "SERVER")))
                assert answers[0] == answers[1], (args, headers)
                if not args and headers.get("x-forwarded-proto") == "https":
                    assert answers[0][0]["url"].startswith("https://")
        finally:
            peer.stop()
            assert ours.stop() == 0


STATUS_APPS = """
STATUSES = {"a": "404 NOT FOUND", "b": "299 Custom Thing", "c": "429 Too Many Requests",
            "d": "418 I'm a teapot", "e": "200 caf\\xe9", "f": "201 Created"}

def wsgi(environ, start_response):
    start_response(STATUSES[environ["PATH_INFO"].strip("/")], [("Content-Length", "2")])
    return [b"ok"]

async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    code = int(scope["path"].strip("/"))
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def status_line(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            more = s.recv(4096)
            assert more, data
            data += more
    return data.split(b"\r\n")[0]


@pytest.mark.parametrize("interface, paths", [
    ("wsgi", ["/a", "/b", "/c", "/d", "/e", "/f"]),
    ("asgi", ["/200", "/299", "/418", "/429", "/451", "/599"]),
])
def test_status_lines_are_the_peers(tmp_path, interface, paths):
    # WSGI: the app's own phrase, as gunicorn sends it (PEP 3333; werkzeug's are upper case,
    # "404 NOT FOUND"); ASGI: the registry's phrase for the code, or none, as uvicorn.
    (tmp_path / "statuses.py").write_text(STATUS_APPS)
    ours = Server(f"statuses:{interface}", interface=interface, app_dir=str(tmp_path),
                  tmp=str(tmp_path), args=["--log-level", "warning"])
    peer = Peer(interface, f"statuses:{interface}", str(tmp_path))
    try:
        for path in paths:
            assert status_line(ours.port, path) == status_line(peer.port, path), path
        if interface == "asgi":
            # RFC 9110's names (Python 3.13's too; uvicorn under 3.11 sends the older
            # "Request Entity Too Large").
            assert status_line(ours.port, "/413") == b"HTTP/1.1 413 Content Too Large"
    finally:
        peer.stop()
        assert ours.stop() == 0
