"""The servers the HTTP benchmarks (bench.py) compare, each serving bench_apps.py: their
command lines (`SERVERS`, and `scale_server` for --scale) and `Running`, one started server
warmed up and measured over its process tree and app nodes."""

import os
import socket
import subprocess
import sys
import time

from bench_procs import app_nodes, cpu_seconds, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SERVE = os.path.join(ROOT, "bin", "py-buffer-serve")
BUFFER = 256 << 10  # py-buffer-serve --buffer-size (its default)


SERVERS = {
    "py-buffer-serve wsgi": ("wsgi", lambda port: [
        SERVE, "--interface", "wsgi", "--bind", f"127.0.0.1:{port}", "--app-dir", HERE,
        "--log-level", "warning", "--max-body-size", "2G", "bench_apps:wsgi"]),
    "py-buffer-serve asgi": ("asgi", lambda port: [
        SERVE, "--interface", "asgi", "--bind", f"127.0.0.1:{port}", "--app-dir", HERE,
        "--log-level", "warning", "--max-body-size", "2G", "bench_apps:asgi"]),
    "py-buffer-serve wsgi --nodes 2": ("wsgi", lambda port: [
        SERVE, "--interface", "wsgi", "--bind", f"127.0.0.1:{port}", "--app-dir", HERE,
        "--log-level", "warning", "--max-body-size", "2G", "--nodes", "2", "bench_apps:wsgi"]),
    "py-buffer-serve asgi --nodes 2": ("asgi", lambda port: [
        SERVE, "--interface", "asgi", "--bind", f"127.0.0.1:{port}", "--app-dir", HERE,
        "--log-level", "warning", "--max-body-size", "2G", "--nodes", "2", "bench_apps:asgi"]),
    "gunicorn gthread 2x8": ("wsgi", lambda port: [
        sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "--chdir", HERE,
        "-k", "gthread", "-w", "2", "--threads", "8", "--log-level", "warning",
        "bench_apps:wsgi"]),
    "uvicorn 2w httptools uvloop": ("asgi", lambda port: [
        sys.executable, "-m", "uvicorn", "--app-dir", HERE, "--port", str(port), "--workers",
        "2", "--http", "httptools", "--loop", "uvloop", "--log-level", "warning",
        "--no-access-log", "bench_apps:asgi"]),
    "granian wsgi 2w": ("wsgi", lambda port: [
        sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", "2", "--host",
        "127.0.0.1", "--port", str(port), "--working-dir", HERE, "--log-level", "warning",
        "--no-ws", "bench_apps:wsgi"]),
    "granian asgi 2w": ("asgi", lambda port: [
        sys.executable, "-m", "granian", "--interface", "asgi", "--workers", "2", "--host",
        "127.0.0.1", "--port", str(port), "--working-dir", HERE, "--log-level", "warning",
        "bench_apps:asgi"]),
}


def tls_args(command, cert, key):
    """A server's own options for HTTPS with the PEM files `cert` and `key`."""
    if command[0] == SERVE or "uvicorn" in command:
        return ["--ssl-certfile", cert, "--ssl-keyfile", key]
    if "gunicorn" in command:
        return ["--certfile", cert, "--keyfile", key]
    if "granian" in command:
        return ["--ssl-certificate", cert, "--ssl-keyfile", key]
    raise ValueError(command)


def scale_server(kind, n):
    """The `--scale` servers: `kind` with `n` interpreters (app nodes or worker processes),
    the same app code as SERVERS; returns (interface, command)."""
    serve = lambda interface: (interface, lambda port: [
        SERVE, "--interface", interface, "--bind", f"127.0.0.1:{port}", "--app-dir", HERE,
        "--log-level", "warning", "--max-body-size", "2G", "--nodes", str(n),
        f"bench_apps:{interface}"])
    # gunicorn turns a sync worker with --threads > 1 into gthread: threads only for gthread.
    gunicorn = lambda worker, threads: ("wsgi", lambda port: [
        sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "--chdir", HERE,
        "-k", worker, "-w", str(n), "--threads", str(threads), "--log-level", "warning",
        "bench_apps:wsgi"])
    return {
        "py-buffer-serve wsgi": serve("wsgi"),
        "py-buffer-serve asgi": serve("asgi"),
        "gunicorn sync": gunicorn("sync", 1),
        "gunicorn gthread x8": gunicorn("gthread", 8),
        "uvicorn httptools uvloop": ("asgi", lambda port: [
            sys.executable, "-m", "uvicorn", "--app-dir", HERE, "--port", str(port),
            "--workers", str(n), "--http", "httptools", "--loop", "uvloop", "--log-level",
            "warning", "--no-access-log", "bench_apps:asgi"]),
    }[kind]


def app_nodes_expected(args):
    """How many app nodes a py-buffer-serve command line starts (`--nodes N`: N - 1)."""
    if args[0] == SERVE and "--nodes" in args:
        return int(args[args.index("--nodes") + 1]) - 1
    return 0


class Running:
    """One started server; with `tls` = (cert, key) PEM files, serving HTTPS (`url` is
    https, `tls` true)."""

    def __init__(self, label, server=None, tls=None):
        self.label = label
        self.interface, command = server or SERVERS[label]
        self.port = free_port()
        self.tls = bool(tls)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        args = command(self.port)
        if tls:
            args = args[:-1] + tls_args(args, *tls) + args[-1:]  # the app stays last
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=HERE)
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{label} did not start")
                time.sleep(0.1)
        # A front accepts before its app nodes are up (it connects to them as they come):
        # wait for every one, or the first loads run on fewer interpreters than named.
        expected = app_nodes_expected(args)
        while len(app_nodes(self.proc.pid)) < expected:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{label}: fewer than {expected} app nodes came up")
            time.sleep(0.2)
        # Requests through, so lazy imports and worker start-up are not measured (several:
        # requests spread over the nodes or workers).
        for _ in range(8):
            subprocess.run(["curl", "-s", "-k", "-o", "/dev/null", "-d", "x",
                            self.url + "/echo"], timeout=30)
        time.sleep(0.5)
        # What memory is counted over: the server's process tree and its app nodes.
        self.apps = app_nodes(self.proc.pid)
        self.roots = [self.proc.pid] + self.apps

    def cpu(self):
        """CPU seconds so far: (the server's own process tree, its app nodes)."""
        return cpu_seconds([self.proc.pid], exclude=self.apps), cpu_seconds(self.apps)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
