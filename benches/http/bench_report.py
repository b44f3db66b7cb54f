"""The report of the default HTTP comparison (bench.py without --scale): markdown tables,
the ratios against the targets, and the PNG bar charts in docs/benchmarks-http/."""

import os

from bench_servers import BUFFER, ROOT

PLOTS = os.path.join(ROOT, "docs", "benchmarks-http")


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


def report(results, upload_size):
    print("\n### 1 KiB POST echo, 32 keep-alive connections (wrk, 2 threads)\n")
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
    print("\n### Full duplex: a 64 B chunk sent, then awaited in the response (400 round trips)\n")
    print(table(["server", "median ms", "p99 ms"],
                [(label, *((f"{r['duplex']['median_ms']:.3f}", f"{r['duplex']['p99_ms']:.3f}")
                           if r.get("duplex") else ("not served", "-")))
                 for label, r in results.items()]))
    print("\n### WebSocket echo: a 64 B round trip (1000 times); 16 sessions x 8 x 1 KiB in "
          "flight\n")
    print(table(["server", "median ms", "p99 ms", "messages/s"],
                [(label, f"{r['websocket']['median_ms']:.3f}", f"{r['websocket']['p99_ms']:.3f}",
                  f"{r['websocket']['msgs']:,.0f}")
                 for label, r in results.items() if r.get("websocket")]))
    ratios = []

    def ratio(a, b, key, sub):
        if a in results and b in results and results[a].get(key) and results[b].get(key) \
                and results[b][key][sub]:
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
            ("py-buffer-serve asgi", "uvicorn 2w httptools uvloop", "-", "download", "mbps"),
            ("py-buffer-serve asgi", "uvicorn 2w httptools uvloop", "-", "websocket", "msgs"),
            ("py-buffer-serve asgi", "granian asgi 2w", "-", "websocket", "msgs")]:
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
