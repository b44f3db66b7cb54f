"""The Python side of py_worker_slice_tests: the scheduling slice a thread runs with."""

import threading

import erlang


def _slice_ns(path):
    with open(path) as f:
        for line in f:
            if line.startswith("se.slice"):
                return int(line.split(":")[1])
    return 0


def thread_slice_ns():
    """The calling thread's slice in nanoseconds (``se.slice`` of ``/proc/thread-self/sched``),
    0 where the kernel shows none (before Linux 6.6)."""
    return _slice_ns("/proc/thread-self/sched")


def main_thread_slice_ns():
    """The slice of the process's main thread (the VM's, never a worker): the kernel's default."""
    return _slice_ns("/proc/self/sched")


def read_one(buf, pid):
    """Sends ``pid`` this thread's id, then blocks in ``buf.read(1)``; returns the byte."""
    erlang.send(pid, ("reader", threading.get_native_id()))
    return buf.read(1)
