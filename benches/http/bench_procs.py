"""Process facts for the HTTP benchmarks (bench.py): free ports, process trees, their RSS and
CPU time (from /proc), and the local app nodes of a py-buffer-serve --nodes N front."""

import os
import re
import socket
import subprocess
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(*roots):
    """The pids of the processes under `roots` (themselves included), each once."""
    pids = list(dict.fromkeys(roots))
    seen = set(pids)
    for p in pids:
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    for child in map(int, f.read().split()):
                        if child not in seen:
                            seen.add(child)
                            pids.append(child)
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


def cpu_seconds(roots, exclude=()):
    """User + system CPU seconds used so far by the process trees under `roots`, without the
    trees under `exclude` (every thread; /proc/PID/stat, clock ticks)."""
    excluded = set(tree(*exclude))
    ticks = 0
    for p in tree(*roots):
        if p in excluded:
            continue
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

    They may be outside its process tree (`peer` can leave them detached, their parent
    init) or inside it. The front names itself at run time (py_dist): its name is the epmd
    entry, other than an app node's, at a port its tree listens on, and its app nodes are
    the VMs started with `-name py_app<i>_<that name>@...`."""
    names = subprocess.run(["epmd", "-names"], capture_output=True, text=True).stdout
    ports = listening_ports(tree(front_pid))
    fronts = [m.group(1) for m in re.finditer(r"^name (\S+) at port (\d+)$", names, re.M)
              if int(m.group(2)) in ports and not m.group(1).startswith("py_app")]
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
