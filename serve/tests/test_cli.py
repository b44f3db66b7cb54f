"""The command line of bin/py-buffer-serve: --help, bad arguments, an app that cannot be
imported, the listening line with the real port."""

import subprocess

import httpx

from conftest import EXAMPLES, SERVE, Server

OPTIONS = ["--interface", "--bind", "--app-dir", "--max-body-size", "--body-timeout",
           "--buffer-size", "--workers", "--header-timeout", "--graceful-timeout",
           "--log-level", "--stats", "--help"]


def run(*args):
    return subprocess.run([SERVE, *args], capture_output=True, text=True, timeout=60)


def test_help_lists_every_option():
    out = run("--help")
    assert out.returncode == 0
    for option in OPTIONS:
        assert option in out.stdout


def test_bad_arguments_exit_2():
    for args in (["--bogus", "1", "a:b"], ["--interface", "cgi", "a:b"], ["noattr"], [],
                 ["--bind", "127.0.0.1", "a:b"], ["--max-body-size", "lots", "a:b"]):
        out = run(*args)
        assert out.returncode == 2, (args, out)
        assert "py-buffer-serve:" in out.stderr


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
