"""The Python side of py_worker_slice_tests: the scheduling slice a thread runs with."""


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
    """The slice of the process's main thread (the VM's, never a worker): the kernel's default.
    Threads started from a worker are no measure of it: they inherit the worker's slice."""
    return _slice_ns("/proc/self/sched")
