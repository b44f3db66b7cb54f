"""Ctrl-C in a child forked from a non-main thread: the forking thread is
the child's main thread, so a read blocked there must wake for signals and raise
``KeyboardInterrupt``. Before the fix the main-thread id was recorded once at import and the
child's read waited in one piece, deaf to SIGINT."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or not os.path.exists("/proc/self/stat"),
    reason="needs os.fork and /proc",
)


def test_sigint_interrupts_a_read_in_a_child_forked_from_a_thread():
    script = textwrap.dedent(
        """
        import os, signal, threading, time, warnings
        import py_buffer

        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads
        ready_r, ready_w = os.pipe()
        child = []

        def fork_here():
            pid = os.fork()
            if pid == 0:
                buf = py_buffer.PyBuffer()
                writer = buf.writer()
                try:
                    os.write(ready_w, b"r")
                    buf.read()
                except KeyboardInterrupt:
                    os._exit(42)
                except BaseException:
                    os._exit(1)
                os._exit(2)
            child.append(pid)

        t = threading.Thread(target=fork_here)
        t.start()
        t.join()
        pid = child[0]
        os.read(ready_r, 1)

        def state():
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0]

        # Wait until the child sleeps (parked in read), so the signal hits the wait itself.
        deadline = time.monotonic() + 10
        while state() != "S" and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(pid, signal.SIGINT)

        status = []
        waiter = threading.Thread(target=lambda: status.append(os.waitpid(pid, 0)[1]), daemon=True)
        waiter.start()
        waiter.join(10)
        if not status:
            os.kill(pid, signal.SIGKILL)
            waiter.join(10)
            print("hung")
        else:
            print("exit", os.waitstatus_to_exitcode(status[0]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "exit 42"
