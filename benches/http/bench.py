"""`make bench-http`: py-buffer-serve against gunicorn, uvicorn and Granian on loopback, the
same apps (bench_apps.py) and the same clients for every server, each load bounded in time.

- echo: 1 KiB POST to /echo, 32 keep-alive connections, wrk (2 threads, 5 s): req/s, p50, p99.
- upload: 256 MiB to /upload (the app reads 64 KiB at a time), curl, 1 and 16 concurrent
  clients: MB/s (total) and the server's peak memory growth (the sum of VmRSS over the
  server's process tree, sampled every 20 ms, minus the sum before the load).
- download: 64 MiB streamed from /download, curl, 1 client: MB/s (best of 3).

py-buffer-serve runs with one node (one CPython) and with `--nodes 2` (a second CPython in a
local app node, requests routed to the least busy).

Prints markdown tables and writes PNG plots to docs/benchmarks-http/. Options: --quick
(shorter loads), --only NAME[,NAME] (servers by label).
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SERVE = os.path.join(ROOT, "bin", "py-buffer-serve")
PLOTS = os.path.join(ROOT, "docs", "benchmarks-http")
BUFFER = 256 << 10  # py-buffer-serve --buffer-size (its default)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid):
    pids = [pid]
    for p in pids:
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    pids.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            pass
    return pids


def rss(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total


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
        "--no-ws", "bench_apps:asgi"]),
}


class Running:
    def __init__(self, label):
        self.label = label
        self.interface, command = SERVERS[label]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(command(self.port), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=HERE)
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{label} did not start")
                time.sleep(0.1)
        # One request through, so lazy imports and worker start-up are not measured.
        subprocess.run(["curl", "-s", "-o", "/dev/null", "-d", "x", self.url + "/echo"],
                       timeout=30)
        time.sleep(0.5)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wrk(url, seconds):
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s",
                          os.path.join(HERE, "post.lua"), url + "/echo"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99),
            "non2xx": int(errors.group(1)) if errors else 0}


def peak_during(pid, work):
    base = rss(pid)
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss(pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        result = work()
    finally:
        done.set()
        t.join()
    return result, peak[0] - base


def upload(server, path, size, clients, max_time):
    def work():
        start = time.monotonic()
        procs = [subprocess.Popen(["curl", "-s", "-H", "Expect:", "--max-time", str(max_time),
                                   "--data-binary", "@" + path, server.url + "/upload"],
                                  stdout=subprocess.PIPE) for _ in range(clients)]
        outs = [p.communicate()[0].decode().strip() for p in procs]
        elapsed = time.monotonic() - start
        ok = all(o == str(size) for o in outs)
        return elapsed, ok
    (elapsed, ok), growth = peak_during(server.proc.pid, work)
    return {"mbps": size * clients / elapsed / 1e6 if ok else 0.0, "ok": ok,
            "peak_growth_mib": growth / 2**20}


def download(server, size, runs=3):
    best = 0.0
    for _ in range(runs):
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "60", "-w",
                              "%{size_download} %{time_total}",
                              f"{server.url}/download?size={size}"],
                             capture_output=True, text=True).stdout.split()
        got, seconds = int(out[0]), float(out[1])
        if got == size:
            best = max(best, size / seconds / 1e6)
    return {"mbps": best}


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def plots(results):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib missing: no plots; pip install -r benches/requirements.txt)")
        return
    os.makedirs(PLOTS, exist_ok=True)
    labels = list(results)
    colors = ["tab:blue" if "py-buffer" in label else "tab:gray" for label in labels]
    charts = [("echo_rps.png", "1 KiB POST echo, 32 connections: requests/s",
               [results[label]["echo"]["rps"] for label in labels]),
              ("upload_1.png", "256 MiB upload, 1 client: MB/s",
               [results[label]["upload1"]["mbps"] for label in labels]),
              ("upload_16.png", "256 MiB upload, 16 clients: MB/s (total)",
               [results[label]["upload16"]["mbps"] for label in labels]),
              ("upload_16_memory.png", "256 MiB upload, 16 clients: peak memory growth, MiB",
               [results[label]["upload16"]["peak_growth_mib"] for label in labels]),
              ("download.png", "64 MiB streamed download: MB/s",
               [results[label]["download"]["mbps"] for label in labels])]
    for name, title, values in charts:
        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.barh(labels, values, color=colors)
        ax.set_title(title)
        ax.invert_yaxis()
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(PLOTS, name), dpi=90)
        plt.close(fig)
    print(f"plots written to {os.path.relpath(PLOTS, ROOT)}/")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    labels = [label for label in SERVERS
              if not args.only or any(o in label for o in args.only.split(","))]
    seconds = 2 if args.quick else 5
    upload_size = (64 if args.quick else 256) << 20
    download_size = 64 << 20
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        path = os.path.join(tmp, "upload.bin")
        with open(path, "wb") as f:
            for _ in range(upload_size >> 20):
                f.write(os.urandom(1 << 20))
        for label in labels:
            print(f"-- {label}", file=sys.stderr, flush=True)
            server = Running(label)
            try:
                results[label] = {
                    "echo": wrk(server.url, seconds),
                    "upload1": upload(server, path, upload_size, 1, 60),
                    "upload16": upload(server, path, upload_size, 16, 120),
                    "download": download(server, download_size),
                }
            finally:
                server.stop()
            print(json.dumps(results[label]), file=sys.stderr, flush=True)
    report(results, upload_size)
    plots(results)


def report(results, upload_size):
    print(f"\n### 1 KiB POST echo, 32 keep-alive connections (wrk, 2 threads)\n")
    print(table(["server", "req/s", "p50 ms", "p99 ms", "non-2xx"],
                [(label, f"{r['echo']['rps']:,.0f}", f"{r['echo']['p50_ms']:.2f}",
                  f"{r['echo']['p99_ms']:.2f}", r["echo"]["non2xx"])
                 for label, r in results.items()]))
    print(f"\n### {upload_size >> 20} MiB upload (app reads 64 KiB at a time, curl)\n")
    print(table(["server", "1 client MB/s", "peak growth MiB", "16 clients MB/s",
                 "peak growth MiB"],
                [(label, f"{r['upload1']['mbps']:,.0f}",
                  f"{r['upload1']['peak_growth_mib']:.0f}",
                  f"{r['upload16']['mbps']:,.0f}", f"{r['upload16']['peak_growth_mib']:.0f}")
                 for label, r in results.items()]))
    print("\n### 64 MiB streamed download (curl, best of 3)\n")
    print(table(["server", "MB/s"], [(label, f"{r['download']['mbps']:,.0f}")
                                    for label, r in results.items()]))
    ratios = []

    def ratio(a, b, key, sub):
        if a in results and b in results and results[b][key][sub]:
            return results[a][key][sub] / results[b][key][sub]
        return float("nan")

    for ours, peer, target, key, sub in [
            ("py-buffer-serve wsgi", "gunicorn gthread 2x8", "≥ 1.5", "echo", "rps"),
            ("py-buffer-serve wsgi", "granian wsgi 2w", "-", "echo", "rps"),
            ("py-buffer-serve wsgi --nodes 2", "gunicorn gthread 2x8", "≥ 1.5", "echo", "rps"),
            ("py-buffer-serve asgi --nodes 2", "uvicorn 2w httptools uvloop", "≥ 0.6", "echo",
             "rps"),
            ("py-buffer-serve asgi", "uvicorn 2w httptools uvloop", "≥ 0.6", "echo", "rps"),
            ("py-buffer-serve asgi", "granian asgi 2w", "-", "echo", "rps"),
            ("py-buffer-serve asgi", "uvicorn 2w httptools uvloop", "≥ 2", "upload1", "mbps"),
            ("py-buffer-serve asgi", "uvicorn 2w httptools uvloop", "≥ 2", "upload16", "mbps"),
            ("py-buffer-serve asgi", "granian asgi 2w", "≥ 0.5", "upload1", "mbps"),
            ("py-buffer-serve asgi", "granian asgi 2w", "≥ 0.5", "upload16", "mbps"),
            ("py-buffer-serve wsgi", "gunicorn gthread 2x8", "-", "upload16", "mbps"),
            ("py-buffer-serve wsgi", "granian wsgi 2w", "≥ 0.5", "upload16", "mbps"),
            ("py-buffer-serve wsgi", "granian wsgi 2w", "-", "download", "mbps"),
            ("py-buffer-serve asgi", "uvicorn 2w httptools uvloop", "-", "download", "mbps")]:
        ratios.append((f"{ours} / {peer}", f"{key} {sub}", f"{ratio(ours, peer, key, sub):.2f}",
                       target))
    print("\n### Ratios\n")
    print(table(["servers", "measure", "ratio", "target"], ratios))
    for label in ("py-buffer-serve wsgi", "py-buffer-serve asgi",
                  "py-buffer-serve wsgi --nodes 2", "py-buffer-serve asgi --nodes 2"):
        if label in results:
            bound = 16 * BUFFER / 2**20 + 64
            growth = results[label]["upload16"]["peak_growth_mib"]
            print(f"\n{label}: 16-client upload peak memory growth {growth:.0f} MiB "
                  f"(bound: 16 x --buffer-size + 64 MiB = {bound:.0f} MiB)")


if __name__ == "__main__":
    main()
