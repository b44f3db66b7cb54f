"""Plots benches/erlang/scale_bench.json (written by scale_bench.escript) into
docs/scaling.png: throughput against the number of app nodes, each series relative to the
local single-node path (dashed line at 1.0).

    python3 benches/erlang/scale_plot.py [JSON] [PNG]

Needs matplotlib (benches/requirements.txt).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main(argv):
    src = argv[1] if len(argv) > 1 else os.path.join(HERE, "scale_bench.json")
    dst = argv[2] if len(argv) > 2 else os.path.join(ROOT, "docs", "scaling.png")
    with open(src) as f:
        data = json.load(f)
    nodes = data["nodes"]
    series = [("echo", "1 KiB WSGI echo (req/s)"),
              ("upload", "upload, 4 streams (MiB/s)"),
              ("routing", "Erlang-only echo: routing capacity (req/s)")]
    fig, axes = plt.subplots(1, len(series), figsize=(13, 4))
    for ax, (key, title) in zip(axes, series):
        row = data[key]
        ax.plot(nodes, row["remote"], marker="o", label="through app nodes")
        ax.axhline(row["local"], linestyle="--", color="grey", label="local single node")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("app nodes")
        ax.set_xticks(nodes)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    fig.suptitle("py_remote over Erlang distribution, loopback, %d CPUs shared by the front "
                 "and every app node" % data.get("cpus", 0), fontsize=11)
    fig.tight_layout()
    fig.savefig(dst, dpi=100)
    print("wrote", dst)


if __name__ == "__main__":
    main(sys.argv)
