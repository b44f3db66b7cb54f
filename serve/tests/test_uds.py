"""`--uds PATH`: py-buffer-serve on a Unix domain socket, as uvicorn's `--uds` (and behind
nginx's `proxy_pass http://unix:PATH`): curl and http.client as clients, the socket file's
life (mode, a stale file replaced, another file or a live server refused, removed at the
stop), proxy headers from the socket's peer, and HTTPS on the socket."""

import hashlib
import http.client
import json
import os
import socket
import stat
import subprocess

import pytest

from conftest import SERVE, TESTS, Server, read_until_closed


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, **kw):
        super().__init__("localhost", **kw)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


@pytest.fixture(scope="module", params=["wsgi", "asgi"])
def uds_server(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uds")
    path = str(tmp / "serve.sock")
    srv = Server(f"serve_apps:{request.param}", interface=request.param, tmp=str(tmp),
                 uds=path, args=["--header-timeout", "2"])
    yield srv
    assert srv.stop() == 0, srv.log()
    assert not os.path.exists(path)  # removed at the stop


def curl(path, *args):
    return subprocess.run(["curl", "-sS", "--fail", "--unix-socket", path, *args],
                          capture_output=True, timeout=60, check=True).stdout


def test_curl_over_the_socket_gets_exact_bytes(uds_server, tmp_path):
    data = os.urandom((2 << 20) + 3)
    (tmp_path / "body").write_bytes(data)
    assert curl(uds_server.uds, "--data-binary", f"@{tmp_path / 'body'}",
                "http://localhost/echo") == data
    out = curl(uds_server.uds, "-H", "Transfer-Encoding: chunked", "--data-binary",
               f"@{tmp_path / 'body'}", "http://localhost/upload")
    assert json.loads(out) == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    out = curl(uds_server.uds, "http://localhost/download?size=3000001")
    assert len(out) == 3000001 and out[:256] == bytes(range(256))


def test_keep_alive_over_the_socket(uds_server):
    conn = UnixHTTPConnection(uds_server.uds)
    for i in range(4):
        conn.request("POST", "/echo", body=b"z" * i)
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b"z" * i)
    conn.close()


def test_the_socket_file_is_open_to_every_user(uds_server):
    mode = os.stat(uds_server.uds).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o666


def test_the_proxy_on_the_socket_is_trusted(uds_server):
    def whoami(headers):
        conn = UnixHTTPConnection(uds_server.uds)
        conn.request("GET", "/whoami", headers=headers)
        answer = json.loads(conn.getresponse().read())
        conn.close()
        return answer

    assert whoami({}) == ["http", None, None]  # a socket's peer has no address
    assert whoami({"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7:4711"}) \
        == ["https", "203.0.113.7", 4711]


def test_a_malformed_head_on_the_socket_is_400(uds_server):
    with uds_server.connect(timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
        assert read_until_closed(s).startswith(b"HTTP/1.1 400 ")


def test_a_stale_socket_file_is_replaced_and_other_files_are_refused(tmp_path):
    path = str(tmp_path / "s.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # a socket file no one listens on (a killed server's)
    stale.close()
    srv = Server("serve_apps:wsgi", tmp=str(tmp_path), uds=path)
    try:
        assert curl(path, "http://localhost/") == b"hello\n"
        out = subprocess.run([SERVE, "--uds", path, "--app-dir", TESTS, "serve_apps:wsgi"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        assert out.stderr == f"py-buffer-serve: unix:{path} is in use by another server\n"
    finally:
        assert srv.stop() == 0, srv.log()
    plain = tmp_path / "plain.txt"
    plain.write_text("keep me")
    out = subprocess.run([SERVE, "--uds", str(plain), "--app-dir", TESTS, "serve_apps:wsgi"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr == f"py-buffer-serve: --uds {plain} exists and is not a socket\n"
    assert plain.read_text() == "keep me"


def test_https_on_the_socket(tmp_path, tls_files):
    path = str(tmp_path / "tls.sock")
    srv = Server("serve_apps:asgi", interface="asgi", tmp=str(tmp_path), uds=path,
                 tls=tls_files)
    try:
        out = curl(path, "--cacert", tls_files.ca, "https://localhost/whoami")
        assert json.loads(out) == ["https", None, None]
    finally:
        assert srv.stop() == 0, srv.log()


def test_uds_with_bind_is_a_usage_error():
    out = subprocess.run([SERVE, "--uds", "/tmp/x.sock", "--bind", "127.0.0.1:0", "a:b"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.startswith("py-buffer-serve: --uds and --bind: one or the other")
