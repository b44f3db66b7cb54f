"""The loads of the HTTP benchmarks (bench.py), the same clients for every server: the wrk
echo, curl uploads (with the server's memory sampled meanwhile), curl downloads, a
full-duplex round trip (a raw socket), and WebSocket echoes (the `websockets` client). Over
TLS (a server started with `tls`) the clients do not verify the certificate (`curl -k`)."""

import asyncio
import os
import re
import socket
import ssl
import statistics
import subprocess
import time

from bench_procs import rss_during
from bench_servers import HERE


def wrk(url, seconds, connections=32, threads=2):
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                          "--latency", "-s", os.path.join(HERE, "post.lua"), url + "/echo"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(value, unit):
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return ms(m.group(1), m.group(2))

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": requests, "p50_ms": pct(50), "p99_ms": pct(99),
            "avg_ms": ms(*re.search(r"Latency\s+([\d.]+)(us|ms|s)", out).groups()),
            "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1).strip() if socket_errors else ""}


def _unverified():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _curl(server):
    return ["curl", "-s"] + (["-k"] if server.tls else [])


def upload(server, path, size, clients, max_time):
    """`clients` curl uploads of the file at once: MB/s (total), whether every answer was the
    byte count, the RSS growth and the absolute peak RSS of the server's process tree."""
    def work():
        start = time.monotonic()
        procs = [subprocess.Popen(_curl(server) + ["-H", "Expect:", "--max-time", str(max_time),
                                   "--data-binary", "@" + path, server.url + "/upload"],
                                  stdout=subprocess.PIPE) for _ in range(clients)]
        outs = [p.communicate()[0].decode().strip() for p in procs]
        elapsed = time.monotonic() - start
        ok = all(o == str(size) for o in outs)
        return elapsed, ok
    (elapsed, ok), base, peak = rss_during(server.roots, work)
    return {"mbps": size * clients / elapsed / 1e6 if ok else 0.0, "ok": ok,
            "peak_growth_mib": (peak - base) / 2**20, "peak_rss_mib": peak / 2**20}


def download(server, size, runs=3):
    best = 0.0
    for _ in range(runs):
        out = subprocess.run(_curl(server) + ["-o", "/dev/null", "--max-time", "60", "-w",
                              "%{size_download} %{time_total}",
                              f"{server.url}/download?size={size}"],
                             capture_output=True, text=True).stdout.split()
        got, seconds = int(out[0]), float(out[1])
        if got == size:
            best = max(best, size / seconds / 1e6)
    return {"mbps": best}


def duplex(server, rounds=400, piece=64):
    """Full duplex on one request: a 64-byte chunk of a chunked body, then a wait until the
    app sent it back in the response, `rounds` times: the round trip's median and p99 (ms),
    or `None` when the first piece does not come back within 2 s (a server that answers
    only after the whole body)."""
    s = socket.create_connection(("127.0.0.1", server.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if server.tls:
        s = _unverified().wrap_socket(s)
    s.settimeout(2)
    try:
        s.sendall(b"POST /duplex HTTP/1.1\r\nHost: bench\r\nTransfer-Encoding: chunked\r\n"
                  b"Connection: close\r\n\r\n")
        got, times = 0, []
        for i in range(rounds):
            data = b"%0*d" % (piece, i)
            start = time.perf_counter()
            s.sendall(b"%x\r\n%s\r\n" % (piece, data))
            seen = b""
            while data not in seen:
                more = s.recv(65536)
                if not more:
                    return None
                seen = seen[-piece:] + more
            times.append((time.perf_counter() - start) * 1e3)
            got += 1
        s.sendall(b"0\r\n\r\n")
    except (socket.timeout, OSError):
        return None
    finally:
        s.close()
    times.sort()
    return {"median_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99)]}


def websocket(server, rounds=1000, clients=16, seconds=3.0, size=1024):
    """ASGI servers: on ``/ws``, one session's round trip of a 64-byte text message
    (`rounds` times: median and p99, ms), then `clients` sessions each keeping 8 messages of
    `size` bytes in flight for `seconds` (echoed messages per second, all sessions). `None`
    for WSGI servers or when the handshake fails."""
    if server.interface != "asgi":
        return None
    try:
        return asyncio.run(_websocket(server, rounds, clients, seconds, size))
    except OSError:
        return None


async def _websocket(server, rounds, clients, seconds, size):
    from websockets.asyncio.client import connect

    url = f"{'wss' if server.tls else 'ws'}://127.0.0.1:{server.port}/ws"
    tls = {"ssl": _unverified()} if server.tls else {}
    times = []
    async with connect(url, compression=None, **tls) as ws:
        for i in range(rounds):
            data = "%064d" % i
            start = time.perf_counter()
            await ws.send(data)
            assert await ws.recv() == data
            times.append((time.perf_counter() - start) * 1e3)
    times.sort()

    payload = os.urandom(size)
    deadline = time.monotonic() + seconds

    async def session():
        echoed = 0
        async with connect(url, compression=None, max_queue=None, **tls) as ws:
            for _ in range(8):
                await ws.send(payload)
            while time.monotonic() < deadline:
                assert await ws.recv() == payload
                echoed += 1
                await ws.send(payload)
            for _ in range(8):
                await ws.recv()
        return echoed

    start = time.monotonic()
    counts = await asyncio.gather(*(session() for _ in range(clients)))
    return {"median_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99)],
            "msgs": sum(counts) / (time.monotonic() - start)}
