"""HTTPS (`--ssl-certfile` and the other `--ssl-*` options, uvicorn's names): real clients
(curl, http.client, httpx, websockets) over TLS, client certificates, files that do not work
(exit 1 before listening, saying why), and a Starlette app answering as under uvicorn
with the same files. The HTTP behaviour itself runs over TLS in test_http.py (its `server`
fixture's `-tls` variants)."""

import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.sync.client import connect

from conftest import EXAMPLES, SERVE, Server, listening, read_until_closed, wait_for


@pytest.fixture(scope="module")
def https(tmp_module, tls_files):
    srv = Server("serve_apps:asgi", interface="asgi", tmp=tmp_module, tls=tls_files,
                 args=["--header-timeout", "2"])
    yield srv
    assert srv.stop() == 0, srv.log()
    # Failed handshakes (plain HTTP, untrusted certificates) leave no reports, as under
    # uvicorn.
    assert "accept_failed" not in srv.log() and "Accept failed" not in srv.log(), srv.log()


def run(*args):
    return subprocess.run([SERVE, *args], capture_output=True, text=True, timeout=60)


def test_curl_uploads_and_downloads_exact_bytes(https, tls_files, tmp_path):
    data = os.urandom((3 << 20) + 7)
    (tmp_path / "body").write_bytes(data)
    curl = ["curl", "-sS", "--fail", "--cacert", tls_files.ca]
    out = subprocess.run(curl + ["--data-binary", f"@{tmp_path / 'body'}",
                                 f"https://localhost:{https.port}/echo"],
                         capture_output=True, timeout=60, check=True).stdout
    assert out == data
    out = subprocess.run(curl + ["-H", "Transfer-Encoding: chunked", "--data-binary",
                                 f"@{tmp_path / 'body'}", f"{https.url}/upload"],
                         capture_output=True, timeout=60, check=True).stdout
    assert json.loads(out) == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    out = subprocess.run(curl + [f"{https.url}/download?size=5000001"],
                         capture_output=True, timeout=60, check=True).stdout
    assert len(out) == 5000001 and out[:256] == bytes(range(256))


def test_uploads_to_an_app_that_reads_late_hold_bounded_memory_over_tls(https):
    # 16 clients send 16 MiB each to an app that waits 2 s before reading: what is held
    # meanwhile is the server's, and stays within the bound of plain HTTP (clients x
    # --buffer-size + 64 MiB; OTP ssl's default read-ahead held 25 MiB per upload).
    clients, size = 16, 16 << 20
    body = os.urandom(size)

    def upload(_):
        conn = https.http_connection(timeout=60)
        conn.request("POST", "/late-read?s=2", body=body)
        answer = conn.getresponse().read()
        conn.close()
        return answer

    with https.rss_growth() as growth, ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(upload, range(clients)))
    assert answers == [b'{"bytes": %d}' % size] * clients
    assert growth.peak <= clients * (256 << 10) + (64 << 20), growth.peak >> 20


def test_one_tls_connection_serves_many_requests(https):
    conn = https.http_connection()
    for i in range(5):
        conn.request("POST", "/echo", body=b"x" * i * 1000)
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b"x" * i * 1000)
    sock = conn.sock
    conn.request("GET", "/whoami")
    assert json.loads(conn.getresponse().read())[0] == "https"
    assert conn.sock is sock
    assert sock.version() in ("TLSv1.2", "TLSv1.3")
    conn.close()


def test_pipelined_requests_over_tls_are_answered_in_order(https):
    with https.connect(timeout=5) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                  b"GET /whoami HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: http\r\n\r\n"
                  b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = read_until_closed(s)
    answers = out.split(b"HTTP/1.1 200 OK\r\n")
    assert len(answers) == 4 and answers[0] == b""
    assert answers[1].endswith(b"\r\n\r\nabc")
    assert b'["http", "127.0.0.1"' in answers[2]  # a trusted proxy said http
    assert answers[3].endswith(b"\r\n\r\nhello\n")


def test_plain_http_to_the_tls_port_gets_no_answer_and_harms_nothing(https):
    with socket.create_connection(("127.0.0.1", https.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        out = read_until_closed(s)
    assert not out.startswith(b"HTTP/")  # a TLS alert, at most, then the close
    assert httpx.get(https.url + "/", verify=https.verify).text == "hello\n"


def test_an_idle_tls_connection_is_closed_at_the_header_timeout(https):
    with https.connect(timeout=10) as s:
        started = time.monotonic()
        assert read_until_closed(s) == b""
        assert 1.5 < time.monotonic() - started < 8


def test_a_client_that_does_not_trust_the_certificate_is_refused(https):
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(https.url + "/", verify=ssl.create_default_context())
    assert httpx.get(https.url + "/", verify=https.verify).status_code == 200


def test_websocket_sessions_run_over_wss(tmp_module, tls_files):
    srv = Server("ws_apps:app", interface="asgi", tmp=tmp_module, tls=tls_files)
    try:
        url = f"wss://127.0.0.1:{srv.port}"
        with connect(url + "/echo", ssl=srv.verify, max_size=None) as ws:
            for size in (0, 125, 70_000, 1 << 20):
                data = os.urandom(size)
                ws.send(data)
                assert ws.recv() == data
            ws.send("close 4001 bye")
            with pytest.raises(Exception):
                ws.recv()
            assert (ws.close_code, ws.close_reason) == (4001, "bye")
        seen = httpx.get(srv.url + "/seen", verify=srv.verify).json()
        assert [e["scope"]["scheme"] for e in seen if "scope" in e] == ["wss"]
    finally:
        assert srv.stop() == 0, srv.log()


@pytest.mark.parametrize("reqs", ["1", "2"])
def test_client_certificates_are_verified_against_the_ca_certs(tmp_module, tls_files, reqs):
    srv = Server("serve_apps:asgi", interface="asgi", tmp=tmp_module, tls=tls_files,
                 args=["--ssl-ca-certs", tls_files.ca, "--ssl-cert-reqs", reqs])
    try:
        def get(cert):
            return httpx.get(srv.url + "/", verify=tls_files.client_context(cert)).text

        assert get(tls_files.client) == "hello\n"
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            get(tls_files.stranger)  # issued by a CA the server does not know
        if reqs == "1":
            assert get(None) == "hello\n"  # optional: none is fine
        else:
            with pytest.raises((httpx.ConnectError, httpx.ReadError,
                                httpx.RemoteProtocolError)):
                get(None)
    finally:
        assert srv.stop() == 0, srv.log()


def test_a_combined_pem_file_and_an_encrypted_key_work(tmp_module, tls_files):
    for args in (["--ssl-certfile", tls_files.combined],
                 ["--ssl-certfile", tls_files.cert, "--ssl-keyfile", tls_files.encrypted_key,
                  "--ssl-keyfile-password", "secret"]):
        srv = Server("serve_apps:wsgi", tmp=tmp_module, args=args)
        try:
            assert srv.url.startswith("https://")
            assert httpx.get(srv.url + "/whoami", verify=tls_files.client_context()).json()[0] \
                == "https"
        finally:
            assert srv.stop() == 0, srv.log()


def test_tls_files_that_do_not_work_exit_1_saying_why(tls_files, tmp_path):
    app = ["--app-dir", EXAMPLES, "--bind", "127.0.0.1:0", "http_flask:app"]
    missing = str(tmp_path / "missing.pem")
    for args, why in [
            (["--ssl-certfile", missing, "--ssl-keyfile", tls_files.key],
             f"cannot read --ssl-certfile {missing}: no such file or directory"),
            (["--ssl-certfile", tls_files.cert, "--ssl-keyfile", missing],
             f"cannot read --ssl-keyfile {missing}: no such file or directory"),
            (["--ssl-certfile", tls_files.cert, "--ssl-keyfile", tls_files.encrypted_key],
             f"cannot read the key in --ssl-keyfile {tls_files.encrypted_key}: wrong or "
             "missing --ssl-keyfile-password"),
            (["--ssl-certfile", tls_files.cert, "--ssl-keyfile", tls_files.encrypted_key,
              "--ssl-keyfile-password", "guess"],
             f"cannot read the key in --ssl-keyfile {tls_files.encrypted_key}: wrong or "
             "missing --ssl-keyfile-password"),
            (["--ssl-certfile", tls_files.cert, "--ssl-keyfile", tls_files.cert],
             f"--ssl-keyfile {tls_files.cert} holds no private key"),
            (["--ssl-certfile", tls_files.key, "--ssl-keyfile", tls_files.key],
             f"--ssl-certfile {tls_files.key} holds no certificate"),
            (["--ssl-certfile", tls_files.cert, "--ssl-keyfile", tls_files.other_key],
             "the key in --ssl-keyfile does not match the certificate in --ssl-certfile"),
            (["--ssl-certfile", tls_files.combined, "--ssl-ca-certs", missing],
             f"cannot read --ssl-ca-certs {missing}: no such file or directory"),
            (["--ssl-certfile", tls_files.combined, "--ssl-ca-certs", tls_files.key],
             f"--ssl-ca-certs {tls_files.key} holds no certificate")]:
        out = run(*args, *app)
        assert out.returncode == 1, (args, out)
        assert out.stderr.startswith("py-buffer-serve: " + why), (args, out.stderr)
        assert out.stdout == ""


def test_tls_options_without_a_certificate_are_usage_errors(tls_files):
    for args, why in [
            (["--ssl-keyfile", tls_files.key], "--ssl-keyfile needs --ssl-certfile"),
            (["--ssl-ca-certs", tls_files.ca], "--ssl-ca-certs needs --ssl-certfile"),
            (["--ssl-certfile", tls_files.combined, "--ssl-cert-reqs", "2"],
             "--ssl-cert-reqs 1 or 2 needs --ssl-ca-certs"),
            (["--ssl-certfile", tls_files.combined, "--ssl-cert-reqs", "3"],
             "--ssl-cert-reqs: 0 (none), 1 (optional) or 2 (required)"),
            (["--role", "app", "--name", "a1", "--ssl-certfile", tls_files.combined],
             "--ssl-certfile is for the front")]:
        out = run(*args, "a:b")
        assert out.returncode == 2, (args, out)
        assert out.stderr.startswith("py-buffer-serve: " + why), (args, out.stderr)


UVICORN_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

async def where(request):
    body = await request.body()
    return JSONResponse({"url": str(request.url), "scheme": request.url.scheme,
                         "client": list(request.client), "size": len(body),
                         "sha": __import__("hashlib").sha256(body).hexdigest()})

async def go(request):
    return RedirectResponse(request.url_for("where"))

app = Starlette(routes=[Route("/where", where, name="where", methods=["GET", "POST"]),
                        Route("/go", go)])
"""


def test_a_starlette_app_answers_as_under_uvicorn_with_the_same_files(tmp_path, tls_files):
    (tmp_path / "tls_app.py").write_text(UVICORN_APP)
    body = os.urandom(1 << 20)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uvicorn = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(tmp_path), "--port", str(port),
         "--ssl-certfile", tls_files.cert, "--ssl-keyfile", tls_files.key, "--log-level",
         "warning", "tls_app:app"])
    ours = Server("tls_app:app", interface="asgi", app_dir=str(tmp_path), tmp=str(tmp_path),
                  tls=tls_files, args=["--log-level", "warning"])
    try:
        assert wait_for(lambda: listening(port), timeout=30)
        answers = []
        for url in (ours.url, f"https://127.0.0.1:{port}"):
            with httpx.Client(verify=tls_files.client_context()) as client:
                where = client.post(url + "/where?q=1", content=body).json()
                where["client"][1] = "PORT"
                go = client.get(url + "/go")
                answers.append(json.loads(json.dumps(
                    [where, go.status_code, go.headers["location"]]
                ).replace(url.rsplit(":", 1)[1], "SERVER")))
        assert answers[0] == answers[1]
        assert answers[0] == [{"url": "https://127.0.0.1:SERVER/where?q=1", "scheme": "https",
                               "client": ["127.0.0.1", "PORT"], "size": 1 << 20,
                               "sha": hashlib.sha256(body).hexdigest()},
                              307, "https://127.0.0.1:SERVER/where"]
    finally:
        uvicorn.terminate()
        uvicorn.wait(30)
        assert ours.stop() == 0, ours.log()
