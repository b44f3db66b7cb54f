"""Starts the real `bin/py-buffer-serve` (and peer servers) on loopback ports."""

import http.client
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import httpx
import pytest
import trustme

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVE = os.path.join(ROOT, "bin", "py-buffer-serve")
TESTS = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(ROOT, "examples", "python")
# Framework apps shared with the EUnit tests of py_request (nif/test).
FRAMEWORKS = os.path.join(ROOT, "tests", "frameworks")


class TlsFiles:
    """A test CA and the PEM files made with it (trustme), in directory ``path``: ``ca``
    (the CA's certificate), ``cert`` and ``key`` (the server's, for localhost and
    127.0.0.1), ``combined`` (both in one file), ``encrypted_key`` (the key under the
    password ``secret``), ``client`` (a client certificate and its key, issued by the CA),
    ``stranger`` (a client certificate and key from another CA), ``other_key`` (a key that
    belongs to no certificate here)."""

    def __init__(self, path):
        from cryptography.hazmat.primitives import serialization

        ca, other_ca = trustme.CA(), trustme.CA()
        server = ca.issue_cert("localhost", "127.0.0.1")
        self.path = str(path)
        files = {
            "ca": ca.cert_pem.bytes(),
            "cert": b"".join(p.bytes() for p in server.cert_chain_pems),
            "key": server.private_key_pem.bytes(),
            "combined": server.private_key_and_cert_chain_pem.bytes(),
            "client": ca.issue_cert("client.example").private_key_and_cert_chain_pem.bytes(),
            "stranger": other_ca.issue_cert("client.example")
                                .private_key_and_cert_chain_pem.bytes(),
            "other_key": other_ca.issue_cert("localhost").private_key_pem.bytes(),
        }
        key = serialization.load_pem_private_key(files["key"], password=None)
        files["encrypted_key"] = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"))
        for name, pem in files.items():
            with open(os.path.join(self.path, name + ".pem"), "wb") as f:
                f.write(pem)
            setattr(self, name, os.path.join(self.path, name + ".pem"))

    def server_args(self):
        """The options of a server with the CA's certificate."""
        return ["--ssl-certfile", self.cert, "--ssl-keyfile", self.key]

    def client_context(self, cert=None):
        """A client's TLS context trusting the CA (with a client certificate file, if
        given)."""
        context = ssl.create_default_context(cafile=self.ca)
        if cert:
            context.load_cert_chain(cert)
        return context


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    return TlsFiles(tmp_path_factory.mktemp("tls"))


class Server:
    """One `py-buffer-serve` process: ``url``, ``port``, ``pid`` (the script), ``beam_pid``
    (the VM), ``stop()`` (SIGTERM, returns the exit status), ``log()`` (its stderr). With
    ``tls`` (a `TlsFiles`) it serves HTTPS: ``url`` is ``https://...``, ``verify`` the
    client's TLS context (``True`` for plain HTTP: the value of httpx's ``verify``), and
    ``connect()`` / ``http_connection()`` speak TLS."""

    def __init__(self, app, interface="wsgi", app_dir=TESTS, args=(), env=None, tmp=None,
                 tls=None, uds=None):
        self.tls = tls
        self.uds = uds
        self.verify = tls.client_context() if tls else True
        if tls:
            args = [*tls.server_args(), *args]
        where = ["--uds", uds] if uds else ["--bind", "127.0.0.1:0"]
        self.errfile = open(os.path.join(tmp, f"serve-{time.monotonic_ns()}.log"), "w+")
        self.proc = subprocess.Popen(
            [SERVE, "--interface", interface, *where, "--app-dir", app_dir,
             "--stats", *args, app],
            stdout=subprocess.PIPE, stderr=self.errfile, env=dict(os.environ, **(env or {})))
        line = self._readline(30).strip()
        m = re.match(r"py-buffer-serve listening on (https?)://127\.0\.0\.1:(\d+)$", line)
        if uds and line == f"py-buffer-serve listening on unix:{uds} " \
                f"({'https' if tls else 'http'})":
            self.port, self.url = None, None
        elif m and not uds:
            self.port = int(m.group(2))
            self.url = f"{m.group(1)}://127.0.0.1:{self.port}"
        else:
            self.proc.kill()
            raise RuntimeError(f"no listening line: {line!r}\n{self.log()}")
        self.pid = self.proc.pid
        self.beam_pid = beam_child(self.pid)

    def connect(self, timeout=None):
        """A fresh connection to the server (a TLS one when it serves HTTPS; to its Unix
        domain socket with ``uds``)."""
        if self.uds:
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(timeout)
            sock.connect(self.uds)
        else:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if self.tls:
            return self.verify.wrap_socket(sock, server_hostname="127.0.0.1")
        return sock

    def http_connection(self, **kw):
        """An `http.client` connection to the server (HTTPS when it serves it)."""
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.verify,
                                               **kw)
        return http.client.HTTPConnection("127.0.0.1", self.port, **kw)

    def _readline(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return ""
        return self.proc.stdout.readline().decode()

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def log(self):
        self.errfile.flush()
        self.errfile.seek(0)
        return self.errfile.read()

    def peak_rss(self):
        return proc_kib(self.beam_pid, "VmHWM") * 1024

    def rss(self):
        return proc_kib(self.beam_pid, "VmRSS") * 1024

    def rss_growth(self):
        """A `RssGrowth` of the VM: ``with server.rss_growth() as g: ...``, then
        ``g.peak``."""
        return RssGrowth(self)


class RssGrowth:
    """Samples a server's RSS every 20 ms while a ``with`` block runs; ``peak``: the most it
    grew over the RSS at the block's start (bytes)."""

    def __init__(self, server):
        self.server = server
        self.peak = 0
        self._done = threading.Event()

    def __enter__(self):
        self._base = self.server.rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.is_set():
            self.peak = max(self.peak, self.server.rss() - self._base)
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.server.rss() - self._base)


class AppNode:
    """One ``py-buffer-serve --role app`` process on loopback distribution: ``node``
    (``NAME@127.0.0.1``, from its ready line), ``pid`` (the script), ``beam_pid`` (the VM, whose
    embedded Python answers ``os.getpid()``), ``stop()`` (SIGTERM, returns the exit status),
    ``kill()`` (SIGCONT then SIGKILL to the VM; returns once the script ended), ``log()``."""

    READY = re.compile(r"py-buffer-serve app node (\S+) ready \(cookie from (.+)\)$")

    def __init__(self, app, name, cookie_file, interface="wsgi", app_dir=TESTS, args=(),
                 tmp=None):
        self.errfile = open(os.path.join(tmp, f"app-{time.monotonic_ns()}.log"), "w+")
        self.proc = subprocess.Popen(
            [SERVE, "--role", "app", "--name", name, "--dist-interface", "127.0.0.1",
             "--cookie-file", cookie_file, "--interface", interface, "--app-dir", app_dir,
             *args, app],
            stdout=subprocess.PIPE, stderr=self.errfile)
        self.pid = self.proc.pid
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline().decode() if ready else ""
        m = self.READY.match(line.strip())
        if not m:
            self.kill()
            raise RuntimeError(f"no ready line: {line!r}\n{self.log()}")
        self.node, self.cookie_source = m.group(1), m.group(2)
        self.beam_pid = beam_child(self.pid)

    def stop(self, timeout=60):
        return Server.stop(self, timeout)

    def kill(self):
        beam = getattr(self, "beam_pid", None)
        for sig in (signal.SIGCONT, signal.SIGKILL):
            for pid in (beam, self.pid):
                if pid is not None and self.proc.poll() is None:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
        self.proc.wait(30)

    def log(self):
        return Server.log(self)


def beam_child(pid):
    """The VM process the script started (its only child)."""
    for _ in range(100):
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise RuntimeError("no VM process")


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def listening(port):
    """Whether something accepts connections on 127.0.0.1:`port` (for `wait_for`)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def wait_for(predicate, timeout=5.0):
    """Polls `predicate` until it returns something true (returned) or `timeout` seconds
    pass (then its last value)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return predicate()


def events(server):
    """The test app's event log (serve_apps.py, GET /events)."""
    return httpx.get(server.url + "/events", verify=server.verify).json()


def read_until_closed(sock):
    """Everything `sock` receives until the server closes it (a reset counts as closed) or
    the socket's timeout passes."""
    out = b""
    try:
        while True:
            got = sock.recv(65536)
            if not got:
                break
            out += got
    except (socket.timeout, ConnectionResetError):
        pass
    return out


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory):
    return str(tmp_path_factory.mktemp("serve"))


def start(app, tmp, **kw):
    return Server(app, tmp=tmp, **kw)


@pytest.fixture(scope="module", params=["wsgi", "asgi", "wsgi-tls", "asgi-tls"])
def server(request, tmp_module, tls_files):
    """The test apps (serve_apps.py) under py-buffer-serve, WSGI then ASGI, over HTTP then
    HTTPS; small limits."""
    interface, _, tls = request.param.partition("-")
    srv = Server(f"serve_apps:{interface}", interface=interface, tmp=tmp_module,
                 tls=tls_files if tls else None,
                 args=["--max-body-size", "16M", "--body-timeout", "2", "--buffer-size", "64K",
                       "--header-timeout", "2", "--log-level", "info"])
    srv.interface = interface
    yield srv
    assert srv.stop() == 0, srv.log()
