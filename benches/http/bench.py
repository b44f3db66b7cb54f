"""`make bench-http`: py-buffer-serve against gunicorn, uvicorn and Granian on loopback, the
same apps (bench_apps.py) and the same clients for every server, each load bounded in time.

- echo: 1 KiB POST to /echo, 32 keep-alive connections, wrk (2 threads, 5 s): req/s, p50, p99.
- upload: 256 MiB to /upload (the app reads 64 KiB at a time), curl, 1 and 16 concurrent
  clients: MB/s (total) and the server's peak memory growth (the sum of VmRSS over the
  server's process tree and its app nodes, sampled every 20 ms, minus the sum before the
  load).
- download: 64 MiB streamed from /download, curl, 1 client: MB/s (best of 3).
- duplex: one chunked request to /duplex, 400 times a 64-byte chunk sent and awaited in the
  response before the next: the round trip's median and p99 (a raw socket).
- websocket (ASGI servers): on /ws, one session's round trip of a 64-byte message (1000
  times: median, p99), then 16 sessions each keeping 8 messages of 1 KiB in flight for 3 s:
  messages echoed per second (the `websockets` client, asyncio, one process).

py-buffer-serve runs with one node (one CPython) and with `--nodes 2` (a second CPython in a
local app node, requests routed to the least busy).

Prints markdown tables and writes PNG plots to docs/benchmarks-http/. Options: --quick
(shorter loads), --only NAME[,NAME] (servers by label), --tls (every server and load over
HTTPS, each server with its own TLS options and a certificate made for the run by trustme;
tables only, no plots).

`--scale` (`make bench-http-scale`, for docs/scaling.md): the same apps and clients with N = 1,
2, 4 interpreters: py-buffer-serve --nodes N (WSGI, ASGI), gunicorn -w N (sync; gthread x 8),
uvicorn --workers N. Per (server, N): the echo with 32 connections (req/s, p50, p99) and with
1 connection (mean latency), 256 MiB uploads with 1 and with 4 clients at once (MB/s), the
idle and peak RSS of the process tree and app nodes, and CPU time (front tree, app nodes) per
echo request and per uploaded MiB. --rounds R rounds (default 3), the order reversed every
other round; medians and min-max. Results go to --json (default benches/http/scale_bench.json)
as they come; --report JSON prints the tables and plot (docs/scaling-http.png) of a saved run.

Files: bench_servers.py (the servers' command lines, a started server), bench_loads.py (wrk
and curl), bench_procs.py (process trees, RSS, CPU time, app nodes), bench_report.py (the
default run's tables, ratios and plots), bench_scale.py (--scale), bench_apps.py (the apps).
"""

import argparse
import json
import os
import sys
import tempfile

from bench_loads import download, duplex, upload, websocket, wrk
from bench_report import plots, report
from bench_scale import SCALE_JSON, SCALE_KINDS, scale_report, scale_run
from bench_servers import SERVERS, Running


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--tls", action="store_true", help="every server over HTTPS")
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
                               (64 if args.quick else 256) << 20, kinds, args.json),
                     args.json)
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
        tls = certificate(tmp) if args.tls else None
        for label in labels:
            print(f"-- {label}", file=sys.stderr, flush=True)
            server = Running(label, tls=tls)
            try:
                results[label] = {
                    "echo": wrk(server.url, seconds),
                    "upload1": upload(server, path, upload_size, 1, 60),
                    "upload16": upload(server, path, upload_size, 16, 120),
                    "download": download(server, download_size),
                    "duplex": duplex(server),
                    "websocket": websocket(server),
                }
            finally:
                server.stop()
            print(json.dumps(results[label]), file=sys.stderr, flush=True)
    if args.tls:
        print("All servers and loads over TLS (HTTPS, wss).\n")
    report(results, upload_size)
    if not args.tls:
        plots(results)


def certificate(directory):
    """A certificate for 127.0.0.1 and its key (PKCS#8, which Granian needs), from a CA made
    for the run: the PEM files' paths."""
    import trustme

    issued = trustme.CA().issue_cert("127.0.0.1", "localhost")
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    issued.cert_chain_pems[0].write_to_path(cert)
    issued.private_key_pem.write_to_path(key)
    return cert, key


if __name__ == "__main__":
    main()
