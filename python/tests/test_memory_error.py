"""A read, peek or export whose result cannot be allocated raises `MemoryError` and takes
nothing: the bytes stay for the next read (as `io.BytesIO.read`, which allocates before it
moves). Run in a child interpreter under an address-space limit (`RLIMIT_AS`), so the
allocation of 64 MiB fails while smaller ones succeed."""

import subprocess
import sys
import textwrap

import pytest

resource = pytest.importorskip("resource")

CHILD = textwrap.dedent("""
    import asyncio, resource, sys
    from py_buffer import PyBuffer

    SIZE = 64 << 20
    line = b"x" * 1023 + b"\\n"
    buf = PyBuffer()
    writer = buf.writer()
    for _ in range(SIZE // (1 << 20)):  # many blocks: no read is one block's slice
        writer.write(line * 1024)
    writer.close()
    with open("/proc/self/status") as f:
        vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
    # Room for small objects, not for another 64 MiB.
    resource.setrlimit(resource.RLIMIT_AS, (vm + (32 << 20), resource.RLIM_INFINITY))

    def refused(call):
        try:
            call()
        except MemoryError:
            return True
        return False

    results = {
        "read": refused(lambda: buf.read()),
        "read1": refused(lambda: buf.read1(SIZE)),
        "readlines": refused(lambda: buf.readlines()),
        "aread": refused(lambda: asyncio.run(buf.aread(SIZE))),
        "peek": refused(lambda: buf.peek()),
        "memoryview": refused(lambda: memoryview(buf)),
    }
    results["left"] = buf.readable_amount()
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    whole = buf.read()
    results["whole"] = whole == line * (SIZE // len(line))
    print(results)
""")


def test_a_read_that_cannot_be_allocated_takes_nothing():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str({"read": True, "read1": True, "readlines": True,
                                      "aread": True, "peek": True, "memoryview": True,
                                      "left": 64 << 20, "whole": True})
