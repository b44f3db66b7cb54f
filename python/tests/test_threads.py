"""Blocking behaviour across threads: every blocking method is woken by data, by the writer's
close, by the reader's close, by abort, by the writer handle being dropped, and by a timeout;
the GIL is released while waiting; Ctrl-C interrupts a blocked main thread."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from py_buffer import BodyAborted, BodyTruncated, PyBuffer

# Each blocking call, and what it returns once b"hello\n" arrived (for read() and readlines(),
# once b"hello\n" arrived and the body was closed).
METHODS = {
    "read_n": (lambda b: b.read(6), b"hello\n"),
    "read_all": (lambda b: b.read(), b"hello\n"),
    "read1": (lambda b: b.read1(100), b"hello\n"),
    "readline": (lambda b: b.readline(), b"hello\n"),
    "readlines": (lambda b: b.readlines(), [b"hello\n"]),
    "readinto": (lambda b: (lambda t: (b.readinto(t), bytes(t)))(bytearray(6)), (6, b"hello\n")),
    "readinto1": (lambda b: (lambda t: (b.readinto1(t), bytes(t[:6])))(bytearray(9)), (6, b"hello\n")),
    "peek": (lambda b: b.peek(), b"hello\n"),
    "next": (lambda b: next(b), b"hello\n"),
}
# What each call returns at a clean EOF with nothing left.
AT_EOF = {
    "read_n": b"",
    "read_all": b"",
    "read1": b"",
    "readline": b"",
    "readlines": [],
    "readinto": (0, bytes(6)),
    "readinto1": (0, bytes(6)),
    "peek": b"",
    "next": StopIteration,
}


def park_time() -> None:
    """Gives the reader thread time to park on the buffer. Correctness never depends on it:
    every test passes whether the event comes before or after the reader parks; this only
    makes the "woken while parked" path the one that usually runs."""
    time.sleep(0.02)


def blocked(run_in_thread, buf, method):
    call = METHODS[method][0]
    handle = run_in_thread(lambda: call(buf))
    park_time()
    assert handle.thread.is_alive(), "the call should be waiting"
    return handle


@pytest.mark.parametrize("method", sorted(METHODS))
def test_woken_by_a_writer_thread(run_in_thread, method):
    buf = PyBuffer()
    w = buf.writer()
    handle = blocked(run_in_thread, buf, method)
    writer = threading.Thread(target=lambda: (w.write(b"hello\n"), method in ("read_all", "readlines") and w.close()))
    writer.start()
    writer.join()
    assert handle.result() == METHODS[method][1]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_woken_by_the_writers_close(run_in_thread, method):
    buf = PyBuffer()
    w = buf.writer()
    handle = blocked(run_in_thread, buf, method)
    w.close()
    expected = AT_EOF[method]
    if expected is StopIteration:
        with pytest.raises(StopIteration):
            handle.result()
    else:
        assert handle.result() == expected


@pytest.mark.parametrize("method", sorted(METHODS))
def test_woken_by_the_readers_close(run_in_thread, method):
    buf = PyBuffer()
    w = buf.writer()
    handle = blocked(run_in_thread, buf, method)
    buf.close()
    expected = AT_EOF[method]
    if expected is StopIteration:
        with pytest.raises(StopIteration):
            handle.result()
    else:
        assert handle.result() == expected
    with pytest.raises(BrokenPipeError):
        w.write(b"late")


@pytest.mark.parametrize("method", sorted(METHODS))
def test_woken_by_abort(run_in_thread, method):
    buf = PyBuffer()
    w = buf.writer()
    handle = blocked(run_in_thread, buf, method)
    w.abort("client disconnected")
    with pytest.raises(BodyAborted, match="client disconnected"):
        handle.result()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_woken_by_the_writer_being_dropped(run_in_thread, method):
    buf = PyBuffer()
    w = buf.writer()
    handle = blocked(run_in_thread, buf, method)
    del w
    gc.collect()
    with pytest.raises(BodyAborted, match="writer gone"):
        handle.result()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_woken_by_truncation(run_in_thread, method):
    buf = PyBuffer(100)
    w = buf.writer()
    handle = blocked(run_in_thread, buf, method)
    w.close()
    with pytest.raises(BodyTruncated, match="expected 100 bytes, got 0"):
        handle.result()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_timeout(method):
    buf = PyBuffer()
    w = buf.writer()
    w.write(b"hel")  # not enough for any of the calls except read1/readinto1/peek
    buf.settimeout(0.05)
    call = METHODS[method][0]
    if method in ("read1", "readinto1", "peek"):
        buf.read(3)
    with pytest.raises(TimeoutError):
        call(buf)
    # Nothing was consumed by the timed-out call; the buffer still works.
    w.write(b"lo\n")
    w.close()
    buf.settimeout(None)
    assert buf.read() in (b"hello\n", b"lo\n")


def test_zero_timeout_fails_at_once_but_present_data_still_reads():
    buf = PyBuffer()
    w = buf.writer()
    buf.settimeout(0)
    with pytest.raises(TimeoutError):
        buf.read(1)
    w.write(b"x")
    assert buf.read(1) == b"x"


def test_the_gil_is_released_while_blocked(run_in_thread):
    buf = PyBuffer()
    w = buf.writer()
    handle = run_in_thread(lambda: buf.read(5))
    # This pure-Python loop runs only because the blocked reader released the GIL.
    counter = 0
    while counter < 100_000:
        counter += 1
    w.write(b"12345")
    assert handle.result() == b"12345"


def test_many_readers_many_writers_exact_totals():
    buf = PyBuffer()
    writers = [buf.writer() for _ in range(4)]
    got = []
    lock = threading.Lock()

    def produce(w, tag):
        for i in range(500):
            w.write(bytes([tag]) * 10)

    def consume():
        while True:
            chunk = buf.read(10)
            if not chunk:
                return
            with lock:
                got.append(chunk)

    producers = [threading.Thread(target=produce, args=(w, i)) for i, w in enumerate(writers)]
    consumers = [threading.Thread(target=consume) for _ in range(4)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join(30)
    writers[0].close()  # the body ends once every producer is done
    for t in consumers:
        t.join(30)
    total = b"".join(got)
    assert len(total) == 4 * 500 * 10
    assert sorted(total.count(bytes([i])) for i in range(4)) == [5000] * 4


def test_sigint_interrupts_a_blocked_read_on_the_main_thread():
    script = textwrap.dedent(
        """
        import os, signal, threading, time
        import py_buffer

        buf = py_buffer.PyBuffer()
        writer = buf.writer()
        started = threading.Event()

        def interrupt():
            started.wait()
            time.sleep(0.2)  # let the main thread park in read()
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        try:
            started.set()
            buf.read()
        except KeyboardInterrupt:
            writer.write(b"still usable")
            writer.close()
            print("KeyboardInterrupt", buf.read().decode())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "KeyboardInterrupt still usable"


def test_custom_signal_handler_runs_while_blocked_and_read_continues():
    script = textwrap.dedent(
        """
        import os, signal, threading, time
        import py_buffer

        buf = py_buffer.PyBuffer()
        writer = buf.writer()
        seen = []

        def handler(signum, frame):
            seen.append(signum)
            writer.write(b"after signal")
            writer.close()

        signal.signal(signal.SIGUSR1, handler)
        threading.Thread(target=lambda: (time.sleep(0.2), os.kill(os.getpid(), signal.SIGUSR1)), daemon=True).start()
        print(buf.read().decode(), seen == [signal.SIGUSR1])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "after signal True"
