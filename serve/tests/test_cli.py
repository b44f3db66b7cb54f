"""The command line of bin/py-buffer-serve: --help, bad arguments, an app that cannot be
imported, the listening line with the real port."""

import os
import subprocess

import httpx

from conftest import EXAMPLES, SERVE, Server

OPTIONS = ["--interface", "--bind", "--app-dir", "--max-body-size", "--body-timeout",
           "--buffer-size", "--workers", "--header-timeout", "--graceful-timeout",
           "--log-level", "--stats", "--help", "--nodes", "--role", "--name", "--connect",
           "--dist-interface", "--dist-ticktime", "--cookie-file", "--root-path",
           "--ws-max-size", "--ws-ping-interval", "--ws-ping-timeout", "--proxy-headers",
           "--no-proxy-headers", "--forwarded-allow-ips", "--ssl-certfile", "--ssl-keyfile",
           "--ssl-keyfile-password", "--ssl-ca-certs", "--ssl-cert-reqs", "--uds"]


def run(*args):
    return subprocess.run([SERVE, *args], capture_output=True, text=True, timeout=60)


def test_help_lists_every_option():
    out = run("--help")
    assert out.returncode == 0
    for option in OPTIONS:
        assert option in out.stdout


def test_bad_arguments_exit_2():
    for args in (["--bogus", "1", "a:b"], ["--interface", "cgi", "a:b"], ["noattr"], [],
                 ["--bind", "127.0.0.1", "a:b"], ["--max-body-size", "lots", "a:b"],
                 ["--root-path", "api", "a:b"], ["--root-path", "/a?b", "a:b"],
                 ["--ws-max-size", "0", "a:b"], ["--ws-ping-timeout", "0", "a:b"],
                 ["--ws-ping-interval", "soon", "a:b"],
                 ["--forwarded-allow-ips", "127.0.0.1,proxy.local", "a:b"],
                 ["--forwarded-allow-ips", "10.0.0.0/33", "a:b"]):
        out = run(*args)
        assert out.returncode == 2, (args, out)
        assert "py-buffer-serve:" in out.stderr


def test_bad_cluster_arguments_exit_2_saying_why():
    app_role = ["--role", "app", "--name", "app1"]
    for args, why in [
            (["--role", "app", "a:b"], "--role app needs --name NAME"),
            (app_role + ["--connect", "x@127.0.0.1", "a:b"], "--connect is for the front"),
            (app_role + ["--nodes", "2", "a:b"], "--nodes is for the front"),
            (app_role + ["--bind", "127.0.0.1:0", "a:b"], "--bind is for the front"),
            (app_role + ["--stats", "a:b"], "--stats is for the front"),
            (["--role", "backend", "a:b"], "--role: front or app"),
            (["--connect", "app1", "a:b"], "--connect: not a node name (NAME@HOST): app1"),
            (["--connect", "app 1@h", "a:b"], "--connect: not a node name (NAME@HOST): app 1@h"),
            (["--name", "front@", "a:b"], "--name: not a node name (NAME[@HOST]): front@"),
            (["--dist-interface", "nowhere", "a:b"],
             "--dist-interface: an IP address or any, not nowhere"),
            (["--dist-ticktime", "0", "a:b"], "--dist-ticktime: whole seconds, at least 1: 0"),
            (["--dist-ticktime", "1.5", "a:b"],
             "--dist-ticktime: whole seconds, at least 1: 1.5")]:
        out = run(*args)
        assert out.returncode == 2, (args, out)
        assert out.stderr.startswith("py-buffer-serve: " + why), (args, out.stderr)
        assert out.stdout == ""


def test_bad_cookie_file_exits_1_saying_why(tmp_path):
    cookie = tmp_path / "cookie"
    app_role = ["--role", "app", "--name", f"scl_cookie_{os.getpid()}",
                "--dist-interface", "127.0.0.1", "--app-dir", EXAMPLES, "--cookie-file",
                str(cookie), "http_flask:app"]
    out = run(*app_role)
    assert out.returncode == 1
    assert out.stderr == (f"py-buffer-serve: cannot read the cookie file {cookie}: "
                          "no such file or directory\n")
    cookie.write_text("secret\n")
    cookie.chmod(0o644)
    out = run(*app_role)
    assert out.returncode == 1
    assert out.stderr == (f"py-buffer-serve: the cookie file {cookie} is open to group or "
                          f"others (mode 644): chmod 600 {cookie}\n")
    cookie.write_text("  \n")
    cookie.chmod(0o600)
    out = run(*app_role)
    assert out.returncode == 1
    assert out.stderr == f"py-buffer-serve: the cookie file {cookie} is empty\n"
    assert out.stdout == ""


def test_app_role_that_cannot_import_exits_1(tmp_path):
    cookie = tmp_path / "cookie"
    cookie.write_text("secret\n")
    cookie.chmod(0o400)
    out = run("--role", "app", "--name", f"scl_noimport_{os.getpid()}", "--dist-interface",
              "127.0.0.1", "--cookie-file", str(cookie), "--app-dir", EXAMPLES,
              "no_such_module:app")
    assert out.returncode == 1
    assert "ModuleNotFoundError" in out.stderr and out.stdout == ""


def test_app_that_cannot_be_imported_exits_1():
    out = run("--bind", "127.0.0.1:0", "--app-dir", EXAMPLES, "no_such_module:app")
    assert out.returncode == 1
    assert "ModuleNotFoundError" in out.stderr and out.stdout == ""


def test_listening_line_and_sizes(tmp_path):
    srv = Server("http_flask:app", app_dir=EXAMPLES, tmp=str(tmp_path),
                 args=["--max-body-size", "1K", "--buffer-size", "16K", "--workers", "2"])
    try:
        assert srv.port > 0
        assert httpx.get(srv.url + "/").text == "hello\n"
        assert httpx.post(srv.url + "/upload", content=b"x" * 1025).status_code == 413
        assert httpx.post(srv.url + "/upload", content=b"x" * 1024).json()["bytes"] == 1024
    finally:
        assert srv.stop() == 0


def test_nodes_2_serves_and_stops(tmp_path):
    """--nodes 2: a second interpreter in a local app node; requests are served, uploads
    arrive whole, SIGTERM stops both."""
    import hashlib
    import os
    srv = Server("serve_apps:asgi", interface="asgi", tmp=str(tmp_path),
                 args=["--nodes", "2", "--log-level", "warning"])
    try:
        assert httpx.get(srv.url + "/.py-buffer-serve/stats").json()["nodes"] == 2
        data = os.urandom(3 << 20)
        with httpx.Client() as client:
            for _ in range(6):
                r = client.post(srv.url + "/upload", content=data)
                assert r.json() == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    finally:
        assert srv.stop() == 0, srv.log()
