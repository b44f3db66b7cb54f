"""bench.py --scale (`make bench-http-scale`, docs/scaling.md): the same apps with 1, 2 and 4
interpreters (py-buffer-serve --nodes N, gunicorn and uvicorn with N worker processes),
several rounds in alternating order, medians, tables and docs/scaling-http.png."""

import json
import os
import statistics
import sys
import tempfile

from bench_loads import upload, wrk
from bench_procs import rss, rss_during
from bench_report import table
from bench_servers import HERE, ROOT, Running, scale_server

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
