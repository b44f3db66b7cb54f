"""`make bench-http`: py-buffer-serve against gunicorn, uvicorn and Granian on loopback, the
same apps (bench_apps.py) and the same clients for every server, each load bounded in time.

- echo: 1 KiB POST to /echo, 32 keep-alive connections, wrk (2 threads, 5 s): req/s, p50, p99.
- upload: 256 MiB to /upload (the app reads 64 KiB at a time), curl, 1 and 16 concurrent
  clients: MB/s (total) and the server's peak memory growth (the sum of VmRSS over the
  server's process tree and its app nodes, sampled every 20 ms, minus the sum before the
  load).
- download: 64 MiB streamed from /download, curl, 1 client: MB/s (best of 3).

py-buffer-serve runs with one node (one CPython) and with `--nodes 2` (a second CPython in a
local app node, requests routed to the least busy).

Prints markdown tables and writes PNG plots to docs/benchmarks-http/. Options: --quick
(shorter loads), --only NAME[,NAME] (servers by label).

`--scale` (`make bench-http-scale`, for docs/scaling.md): the same apps and clients with N = 1,
2, 4 interpreters: py-buffer-serve --nodes N (WSGI, ASGI), gunicorn -w N (sync; gthread x 8),
uvicorn --workers N. Per (server, N): the echo with 32 connections (req/s, p50, p99) and with
1 connection (mean latency), 256 MiB uploads with 1 and with 4 clients at once (MB/s), the
idle and peak RSS of the process tree and app nodes, and CPU time (front tree, app nodes) per
echo request and per uploaded MiB. --rounds R rounds (default 3), the order reversed every
other round; medians and min-max. Results go to --json (default benches/http/scale_bench.json)
as they come; --report JSON prints the tables and plot (docs/scaling-http.png) of a saved run.
"""

import argparse
import json
import os
import re
import socket
import statistics
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


def tree(*roots):
    pids = list(roots)
    for p in pids:
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    pids.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            pass
    return pids


def rss(roots):
    """The sum of VmRSS over the process trees under `roots`, bytes."""
    total = 0
    for p in tree(*roots):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total


def cpu_seconds(roots):
    """User + system CPU seconds used so far by the process trees under `roots` (every
    thread; /proc/PID/stat, clock ticks)."""
    ticks = 0
    for p in tree(*roots):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(") ", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def listening_ports(pids):
    """The TCP ports the processes `pids` listen on."""
    inodes = set()
    for p in pids:
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                link = os.readlink(f"/proc/{p}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except (FileNotFoundError, PermissionError):
            pass
    ports = set()
    for table_path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table_path) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def app_nodes(front_pid):
    """The pids of the local app nodes of py-buffer-serve --nodes N running as `front_pid`.

    `peer` detaches them (their parent is init), so the process tree misses them. The front
    names itself at run time (py_dist): its name is the epmd entry at a port its VM listens
    on, and its app nodes are the VMs started with `-name py_app<i>_<that name>@...`."""
    names = subprocess.run(["epmd", "-names"], capture_output=True, text=True).stdout
    ports = listening_ports(tree(front_pid))
    fronts = [m.group(1) for m in re.finditer(r"^name (\S+) at port (\d+)$", names, re.M)
              if int(m.group(2)) in ports]
    if not fronts:
        return []
    marker = re.compile(rf"^py_app\d+_{re.escape(fronts[0])}@".encode())
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except (FileNotFoundError, PermissionError):
                continue
            if any(marker.match(a) for a in args):
                pids.append(int(entry))
    return pids


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


class Running:
    def __init__(self, label, server=None):
        self.label = label
        self.interface, command = server or SERVERS[label]
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
        # Requests through, so lazy imports and worker start-up are not measured (several:
        # requests spread over the nodes or workers).
        for _ in range(8):
            subprocess.run(["curl", "-s", "-o", "/dev/null", "-d", "x", self.url + "/echo"],
                           timeout=30)
        time.sleep(0.5)
        # What memory is counted over: the server's process tree and its app nodes.
        self.apps = app_nodes(self.proc.pid)
        self.roots = [self.proc.pid] + self.apps

    def cpu(self):
        """CPU seconds so far: (the server's own process tree, its app nodes)."""
        return cpu_seconds([self.proc.pid]), cpu_seconds(self.apps)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


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


def rss_during(roots, work):
    """work()'s result, the RSS of the process trees under `roots` before it and its peak
    while it ran."""
    base = rss(roots)
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss(roots))
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        result = work()
    finally:
        done.set()
        t.join()
    return result, base, peak[0]


def upload(server, path, size, clients, max_time):
    """`clients` curl uploads of the file at once: MB/s (total), whether every answer was the
    byte count, the RSS growth and the absolute peak RSS of the server's process tree."""
    def work():
        start = time.monotonic()
        procs = [subprocess.Popen(["curl", "-s", "-H", "Expect:", "--max-time", str(max_time),
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


# --scale: the same apps with 1, 2 and 4 interpreters (py-buffer-serve --nodes N, gunicorn and
# uvicorn with N worker processes), several rounds in alternating order, medians.
SCALE_NODES = (1, 2, 4)
SCALE_KINDS = ("py-buffer-serve wsgi", "py-buffer-serve asgi", "gunicorn sync",
               "gunicorn gthread x8", "uvicorn httptools uvloop")
# Ours against the peers of the same interface, at the same N.
SCALE_PAIRS = (("py-buffer-serve wsgi", "gunicorn sync"),
               ("py-buffer-serve wsgi", "gunicorn gthread x8"),
               ("py-buffer-serve asgi", "uvicorn httptools uvloop"))
SCALE_UPLOAD_CLIENTS = max(SCALE_NODES)  # enough concurrent uploads to reach every node
SCALE_JSON = os.path.join(HERE, "scale_bench.json")
SCALE_PLOT = os.path.join(ROOT, "docs", "scaling-http.png")


def scale_one(kind, n, path, size, seconds):
    """One server at one N: every measure of one round, and the load average around it."""
    server = Running(f"{kind} N={n}", scale_server(kind, n))
    try:
        if kind.startswith("py-buffer-serve") and len(server.roots) != n:
            raise RuntimeError(f"{kind} --nodes {n}: found {len(server.roots) - 1} app nodes")
        load = os.getloadavg()[0]
        idle = rss(server.roots)
        front0, apps0 = server.cpu()
        echo, _, echo_peak = rss_during(server.roots, lambda: wrk(server.url, seconds))
        front1, apps1 = server.cpu()
        single = wrk(server.url, max(2, seconds - 2), connections=1, threads=1)
        up1 = upload(server, path, size, 1, 120)
        front2, apps2 = server.cpu()
        upn = upload(server, path, size, SCALE_UPLOAD_CLIENTS, 300)
        front3, apps3 = server.cpu()
        load = max(load, os.getloadavg()[0])
    finally:
        server.stop()
    per_request = 1e6 / echo["requests"]
    per_mib = 1e3 * 2**20 / (size * SCALE_UPLOAD_CLIENTS)
    return {"rps": echo["rps"], "p50_ms": echo["p50_ms"], "p99_ms": echo["p99_ms"],
            "non2xx": echo["non2xx"], "socket_errors": echo["socket_errors"],
            "single_avg_ms": single["avg_ms"], "single_p99_ms": single["p99_ms"],
            "upload1_mbps": up1["mbps"], "uploadn_mbps": upn["mbps"],
            "uploads_ok": up1["ok"] and upn["ok"], "idle_rss_mib": idle / 2**20,
            "peak_rss_mib": max(echo_peak / 2**20, up1["peak_rss_mib"], upn["peak_rss_mib"]),
            # CPU of the 32-connection echo per request (us) and of the N-client uploads per
            # MiB (ms): the server's own tree (py-buffer-serve: the front VM) and app nodes.
            "front_cpu_us_per_req": (front1 - front0) * per_request,
            "apps_cpu_us_per_req": (apps1 - apps0) * per_request,
            "front_cpu_ms_per_mib": (front3 - front2) * per_mib,
            "apps_cpu_ms_per_mib": (apps3 - apps2) * per_mib,
            "load1": load}


def scale_run(rounds, seconds, size, kinds, json_path):
    """Every (server, N) once a round, the order reversed every other round; each result is
    saved to `json_path` as it comes, so a stopped run keeps what it measured."""
    configs = [(kind, n) for n in SCALE_NODES for kind in kinds]
    data = {"cpus": os.cpu_count(), "nodes": list(SCALE_NODES), "seconds": seconds,
            "upload_mib": size >> 20, "upload_clients": SCALE_UPLOAD_CLIENTS, "rounds": []}
    with tempfile.TemporaryDirectory(prefix="bench-http-scale-") as tmp:
        path = os.path.join(tmp, "upload.bin")
        with open(path, "wb") as f:
            for _ in range(size >> 20):
                f.write(os.urandom(1 << 20))
        for r in range(rounds):
            order = configs if r % 2 == 0 else configs[::-1]
            data["rounds"].append([])
            for kind, n in order:
                print(f"-- round {r + 1}/{rounds}: {kind} N={n}", file=sys.stderr, flush=True)
                result = {"server": kind, "n": n, **scale_one(kind, n, path, size, seconds)}
                print(json.dumps(result), file=sys.stderr, flush=True)
                data["rounds"][-1].append(result)
                with open(json_path, "w") as f:
                    json.dump(data, f, indent=1)
    return data


def scale_medians(data):
    """{(server, n): {measure: median over rounds}} and each measure's (min, max)."""
    runs = {}
    for round_results in data["rounds"]:
        for result in round_results:
            runs.setdefault((result["server"], result["n"]), []).append(result)
    medians = {}
    for key, results in runs.items():
        medians[key] = {m: statistics.median(r[m] for r in results)
                        for m in results[0] if isinstance(results[0][m], (int, float))
                        and not isinstance(results[0][m], bool)}
        medians[key]["range"] = {m: (min(r[m] for r in results), max(r[m] for r in results))
                                 for m in medians[key]}
        medians[key]["rounds"] = len(results)
        medians[key]["uploads_ok"] = all(r["uploads_ok"] for r in results)
        medians[key]["socket_errors"] = sorted({r["socket_errors"] for r in results} - {""})
    return medians


def scale_report(data, json_path):
    medians = scale_medians(data)
    kinds = [k for k in SCALE_KINDS if any((k, n) in medians for n in SCALE_NODES)]
    loads = [r["load1"] for rnd in data["rounds"] for r in rnd]
    rounds = min(m["rounds"] for m in medians.values())
    nodes = [n for n in SCALE_NODES if any((k, n) in medians for k in kinds)]

    def cells(measure, fmt, spread=True):
        rows = []
        for kind in kinds:
            row = [kind]
            for n in nodes:
                m = medians.get((kind, n))
                if m is None:
                    row.append("–")
                    continue
                cell = fmt.format(m[measure])
                if spread and m["rounds"] > 1:
                    low, high = m["range"][measure]
                    cell += " (" + fmt.format(low) + "–" + fmt.format(high) + ")"
                row.append(cell)
            rows.append(row)
        return rows

    def pairs(first, second, fmt_first, fmt_second, joiner):
        """Rows whose cells show two measures, e.g. p50 / p99."""
        return [[row[0]] + [f"{a}{joiner}{b}" for a, b in zip(row[1:], other[1:])]
                for row, other in zip(cells(first, fmt_first, False),
                                      cells(second, fmt_second, False))]

    head = ["server"] + [f"N={n}" for n in nodes]
    print(f"\n{data['cpus']} CPUs; medians of {rounds} rounds (min–max in brackets); "
          f"1-minute load average during the run {min(loads):.1f}–{max(loads):.1f} "
          f"(median {statistics.median(loads):.1f})")
    print(f"\n### 1 KiB POST echo, 32 connections (wrk, 2 threads, {data['seconds']} s): "
          "requests/s\n")
    print(table(head, cells("rps", "{:,.0f}")))
    print("\n### 1 KiB POST echo, 32 connections: latency p50 / p99, ms\n")
    print(table(head, pairs("p50_ms", "p99_ms", "{:.2f}", "{:.1f}", " / ")))
    print(f"\n### 1 KiB POST echo, 1 connection (one request at a time, "
          f"{max(2, data['seconds'] - 2)} s): mean latency, ms\n")
    print(table(head, cells("single_avg_ms", "{:.3f}")))
    print(f"\n### {data['upload_mib']} MiB upload, 1 client (curl; the app reads 64 KiB at a "
          "time): MB/s\n")
    print(table(head, cells("upload1_mbps", "{:,.0f}")))
    print(f"\n### {data['upload_mib']} MiB uploads, {data['upload_clients']} clients at once: "
          "MB/s (total)\n")
    print(table(head, cells("uploadn_mbps", "{:,.0f}")))
    print("\n### Peak RSS of the whole server process tree (every load), MiB (idle → peak)\n")
    print(table(head, pairs("idle_rss_mib", "peak_rss_mib", "{:.0f}", "{:.0f}", " → ")))
    if all("front_cpu_us_per_req" in m for m in medians.values()):
        print("\n### CPU per request (32-connection echo), us: server (py-buffer-serve: front "
              "VM) + app nodes\n")
        print(table(head, pairs("front_cpu_us_per_req", "apps_cpu_us_per_req", "{:.0f}",
                                "{:.0f}", " + ")))
        print(f"\n### CPU per MiB ({data['upload_clients']}-client uploads), ms: server "
              "(py-buffer-serve: front VM) + app nodes\n")
        print(table(head, pairs("front_cpu_ms_per_mib", "apps_cpu_ms_per_mib", "{:.2f}",
                                "{:.2f}", " + ")))
    ratios = []
    for ours, peer in SCALE_PAIRS:
        if ours not in kinds or peer not in kinds:
            continue
        for measure, name in (("rps", "echo req/s"), ("upload1_mbps", "upload, 1 client"),
                              ("uploadn_mbps", f"upload, {data['upload_clients']} clients")):
            row = [f"{ours} / {peer}", name]
            for n in nodes:
                a, b = medians.get((ours, n)), medians.get((peer, n))
                row.append(f"{a[measure] / b[measure]:.2f}" if a and b and b[measure] else "–")
            ratios.append(row)
    print("\n### Ratios at the same N (medians)\n")
    print(table(["servers", "measure"] + [f"N={n}" for n in nodes], ratios))
    for (kind, n), m in sorted(medians.items()):
        if not m["uploads_ok"]:
            print(f"\n{kind} N={n}: an upload did not answer its byte count (counted as 0)")
        if m["socket_errors"]:
            print(f"\n{kind} N={n}: wrk socket errors: {'; '.join(m['socket_errors'])}")
    scale_plot(data, medians, kinds, nodes, json_path)


def scale_plot(data, medians, kinds, nodes, json_path):
    """The plot of the run saved at `json_path`: docs/scaling-http.png for SCALE_JSON (the run
    docs/scaling.md shows), else beside the JSON (a partial or trial run leaves the doc's plot
    alone)."""
    same = os.path.abspath(json_path) == os.path.abspath(SCALE_JSON)
    png = SCALE_PLOT if same else os.path.splitext(json_path)[0] + ".png"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib missing: no plot; pip install -r benches/requirements.txt)")
        return
    charts = [("rps", "1 KiB POST echo, 32 connections: req/s"),
              ("upload1_mbps", f"{data['upload_mib']} MiB upload, 1 client: MB/s"),
              ("uploadn_mbps", f"{data['upload_mib']} MiB uploads, {data['upload_clients']} "
                               "clients: MB/s")]
    fig, axes = plt.subplots(1, len(charts), figsize=(14, 4.2))
    for ax, (measure, title) in zip(axes, charts):
        for kind in kinds:
            xs = [n for n in nodes if (kind, n) in medians]
            ax.plot(xs, [medians[(kind, n)][measure] for n in xs], marker="o", label=kind,
                    linestyle="-" if "py-buffer" in kind else "--")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("interpreters (--nodes N / -w N / --workers N)")
        ax.set_xticks(nodes)
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"HTTP on loopback, {data['cpus']} CPUs shared by the server, every node or "
                 "worker and the clients (medians)", fontsize=11)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    print(f"\nplot written to {png}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--scale", action="store_true",
                        help="the rows with 1, 2 and 4 nodes / workers (make bench-http-scale)")
    parser.add_argument("--rounds", type=int, default=3, help="--scale: rounds (medians)")
    parser.add_argument("--json", default=SCALE_JSON,
                        help="--scale: where the results are saved (default: %(default)s)")
    parser.add_argument("--report", metavar="JSON",
                        help="--scale: print the tables and plot of a saved run, measure nothing")
    args = parser.parse_args()
    if args.scale:
        if args.report:
            with open(args.report) as f:
                scale_report(json.load(f), args.report)
            return
        kinds = [k for k in SCALE_KINDS
                 if not args.only or any(o in k for o in args.only.split(","))]
        scale_report(scale_run(1 if args.quick else args.rounds, 2 if args.quick else 5,
                               (64 if args.quick else 256) << 20, kinds, args.json))
        return
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
