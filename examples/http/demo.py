"""`make demo`: py-buffer-serve serving a Flask (WSGI) and a Starlette (ASGI) app to curl.

For each app: start `bin/py-buffer-serve` on a free loopback port, upload a 256 MiB body with
curl once with a Content-Length and once chunked (the app reads it 64 KiB at a time and
answers its size and sha256), download a 64 MiB streamed response, print what the app
received against what was sent, the throughput and the server's peak memory (VmHWM of the
VM process, from /proc), then stop the server with SIGTERM (graceful; exit status 0).
Exits 0 only if every sha256 matched and both servers stopped cleanly.
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVE = os.path.join(ROOT, "bin", "py-buffer-serve")
APPS = os.path.join(ROOT, "examples", "python")
sys.path.insert(0, APPS)
from http_flask import pattern  # noqa: E402  (the download's bytes)

UPLOAD = 256 << 20
DOWNLOAD = 64 << 20


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def beam_pid(pid):
    for _ in range(100):
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        if kids:
            return int(kids[0])
        time.sleep(0.05)
    raise RuntimeError("no VM process")


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def curl(*args):
    out = subprocess.run(["curl", "-sS", "--fail", "-H", "Expect:", *args,
                          "-w", "\n%{time_total}"],
                         check=True, capture_output=True).stdout.decode()
    body, _, seconds = out.rpartition("\n")
    return body, float(seconds)


def mbps(size, seconds):
    return size / seconds / 1e6


def serve(label, interface, app, upload, upload_sha, tmp):
    proc = subprocess.Popen([SERVE, "--interface", interface, "--bind", "127.0.0.1:0",
                             "--app-dir", APPS, "--log-level", "warning", app],
                            stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode().strip()
    m = re.match(r"py-buffer-serve listening on (http://127\.0\.0\.1:\d+)$", line)
    if not m:
        proc.kill()
        raise SystemExit(f"demo: the server did not start: {line!r}")
    url = m.group(1)
    vm = beam_pid(proc.pid)
    print(f"{label}: {app} ({interface}) on {url}")
    ok = True
    for name, extra in (("upload, Content-Length", []),
                        ("upload, chunked       ", ["-H", "Transfer-Encoding: chunked"])):
        body, seconds = curl(*extra, "--data-binary", "@" + upload, url + "/upload")
        got = json.loads(body)
        match = got["sha256"] == upload_sha and got["bytes"] == UPLOAD
        ok &= match
        print(f"  {name}: app received {got['bytes']} bytes, sha256 {got['sha256'][:16]}..."
              f" {'match' if match else 'MISMATCH'}, {mbps(UPLOAD, seconds):.0f} MB/s")
    target = os.path.join(tmp, "download")
    _, seconds = curl("-o", target, f"{url}/download?size={DOWNLOAD}")
    want = hashlib.sha256(b"".join(pattern(DOWNLOAD))).hexdigest()
    got_sha = sha256_file(target)
    match = got_sha == want and os.path.getsize(target) == DOWNLOAD
    ok &= match
    print(f"  download, streamed    : curl received {os.path.getsize(target)} bytes, sha256 "
          f"{got_sha[:16]}... {'match' if match else 'MISMATCH'}, {mbps(DOWNLOAD, seconds):.0f} MB/s")
    peak = peak_rss(vm)
    proc.send_signal(signal.SIGTERM)
    status = proc.wait(60)
    ok &= status == 0
    print(f"  server peak memory (VmHWM): {peak / 2**20:.0f} MiB; stopped with SIGTERM, "
          f"exit status {status}")
    return ok


def main():
    with tempfile.TemporaryDirectory(prefix="py-buffer-demo-") as tmp:
        upload = os.path.join(tmp, "upload.bin")
        digest = hashlib.sha256()
        with open(upload, "wb") as f:
            for _ in range(UPLOAD >> 20):
                block = os.urandom(1 << 20)
                digest.update(block)
                f.write(block)
        upload_sha = digest.hexdigest()
        print(f"sending {UPLOAD} random bytes, sha256 {upload_sha[:16]}...")
        ok = serve("WSGI", "wsgi", "http_flask:app", upload, upload_sha, tmp)
        ok &= serve("ASGI", "asgi", "http_starlette:app", upload, upload_sha, tmp)
    print("demo: all sha256 match" if ok else "demo: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
