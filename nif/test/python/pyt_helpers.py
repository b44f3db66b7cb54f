"""Python side of the EUnit tests (put on sys.path by the tests)."""
import threading
import time

import py_buffer
from erlang import Pid, PyBuffer, Term


def identity(x):
    return x


def noop():
    return None


def kinds(*args, **kwargs):
    """The Python type name of each argument (and keyword argument)."""
    return [type(a).__name__ for a in args], {k: type(v).__name__ for k, v in kwargs.items()}


def same_type(buf):
    """The buffer from Erlang, `erlang.PyBuffer` and `py_buffer.PyBuffer` are one type."""
    import sys
    return (type(buf) is PyBuffer, PyBuffer is py_buffer.PyBuffer, isinstance(buf, py_buffer.PyBuffer),
            sys.modules["py_buffer._native"].__name__)


def read_all(buf):
    return buf.read()


def read_lines(buf):
    return [line for line in buf]


def handle_request(environ):
    """The seed's WSGI example: read the body through environ['wsgi.input']."""
    body = environ["wsgi.input"].read()
    return {"method": environ["REQUEST_METHOD"], "length": len(body), "body": body}


_gate = threading.Event()


def block_on_gate():
    _gate.wait()
    return "released"


def open_gate():
    _gate.set()


def sleep(seconds):
    time.sleep(seconds)
    return seconds


def record(log, item):
    log.append(item)


def thread_name():
    return threading.current_thread().name, threading.get_ident()


class Thing:
    def method(self):
        return "method"


thing = Thing()


def raise_custom():
    class Custom(Exception):
        pass
    raise Custom("custom message")


def asyncio_roundtrip(n):
    import asyncio

    async def main():
        await asyncio.sleep(0)
        return sum(range(n))

    return asyncio.run(main())


ordered = []


def record_ordered(i):
    ordered.append(i)
    return i


def take_ordered():
    out = list(ordered)
    ordered.clear()
    return out


def sys_facts():
    import sys
    return {"prefix": sys.prefix, "base_prefix": sys.base_prefix, "executable": sys.executable}


async def read_buffer_async(buf):
    """The seed's asyncio example, verbatim in substance: poll without blocking the loop."""
    import asyncio
    chunks = []
    while not buf.at_eof():
        available = buf.readable_amount()
        if available > 0:
            chunks.append(buf.read_nonblock(4096))
        else:
            await asyncio.sleep(0.001)
    return b"".join(chunks)


def read_async(buf):
    import asyncio
    return asyncio.run(read_buffer_async(buf))


# --- the seed's behaviours, driven from Erlang (py_seed_tests) ---------------------------

def lines_three_ways(buf):
    """readline, then iteration, then readlines on what is left."""
    first = buf.readline()
    second = next(iter(buf))
    rest = buf.readlines()
    return first, second, rest


def seek_tell(buf):
    """The seed's seek/tell calls on a closed 20-byte body."""
    out = [buf.tell(), buf.read(5), buf.tell()]
    out.append(buf.seek(0))
    out.append(buf.seek(10, 1))
    out.append(buf.read(2))
    out.append(buf.seek(-5, 2))
    out.append(buf.read())
    return out


def find(buf, needles):
    return [buf.find(n) for n in needles]


_views = {}


def hold_view(buf):
    """Takes a memoryview of the unread bytes and keeps it (see check_view)."""
    mv = memoryview(buf)
    _views["mv"], _views["copy"] = mv, bytes(mv)
    return {"readonly": mv.readonly, "ndim": mv.ndim, "first": mv[0], "slice": bytes(mv[2:5]),
            "len": len(mv), "find": buf.find(b"--b"), "before_find": bytes(mv[:buf.find(b"--b")])}


def check_view(buf):
    """After Erlang wrote more while the view was held: the view is unchanged, the buffer grew."""
    mv = _views.pop("mv")
    unchanged = bytes(mv) == _views.pop("copy")
    held = len(mv)
    mv.release()
    return {"unchanged": unchanged, "view_len": held, "unread": len(buf), "all": buf.read()}


def empty_and_closed(buf):
    return {"read": buf.read(), "readline": buf.readline(), "readlines": buf.readlines(),
            "at_eof": buf.at_eof(), "len": len(buf), "readable_amount": buf.readable_amount()}


def nonblocking(buf):
    """read_nonblock never waits: b'' with nothing there, what is there otherwise."""
    return [buf.readable_amount(), buf.read_nonblock(1024), buf.at_eof()]


def io_flags(buf):
    return [buf.readable(), buf.writable(), buf.seekable(), buf.closed]


def close_from_python(buf):
    buf.close()
    return buf.closed


def read_and_report(buf):
    """Blocks in read(); returns what happened (for the owner-killed test)."""
    return buf.read()


async def read_awaiting(buf):
    """An asyncio reader awaiting the buffer (no polling)."""
    chunks = []
    while True:
        chunk = await buf.aread1(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def read_asyncio(buf):
    import asyncio
    return asyncio.run(read_awaiting(buf))


def hold_gil(pid, seconds):
    """Holds the GIL for `seconds` inside one C call (ctypes.PyDLL calls keep the GIL), after
    telling `pid` it is about to."""
    import ctypes
    import erlang
    libc = ctypes.PyDLL(None)
    erlang.send(pid, "holding the gil")
    libc.usleep(int(seconds * 1e6))
    return "released"


def write_bytes_for(buf, seconds):
    """Writes one byte at a time into `buf` for `seconds`, a few microseconds apart, then
    closes it; returns how many."""
    writer = buf.writer()
    end = time.monotonic() + seconds
    count = 0
    while time.monotonic() < end:
        writer.write(b"x")
        count += 1
        pause = time.perf_counter() + (count % 7) * 3e-6
        while time.perf_counter() < pause:
            pass
    writer.close()
    return count
