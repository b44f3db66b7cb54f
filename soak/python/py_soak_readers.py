"""Python side of the soak (`make soak`, docs/reliability.md "Soak"): the readers and calls the Erlang
driver runs on the embedded interpreter's pool, and the count of live objects of our types.

Every reader returns `(outcome, nbytes, crc32)`: how the body ended for it (`eof`,
`aborted`, `truncated`, `timeout`, `closed`), how many bytes it read, and the CRC-32 of those
bytes (zlib's, the same function as `erlang:crc32/1`), so the driver checks that every byte
it wrote arrived, in order, exactly once.
"""
import asyncio
import gc
import threading
import zlib

import py_buffer
from py_buffer import _native

_OUR_TYPES = tuple(
    t for t in vars(_native).values() if isinstance(t, type) and not issubclass(t, BaseException)
)


def _drain(buf, chunk, state):
    """Reads with `read1` until EOF; `state` holds the count and CRC so far."""
    while True:
        data = buf.read1(chunk)
        if not data:
            return "eof"
        state[0] += len(data)
        state[1] = zlib.crc32(data, state[1])


def _outcome_of(exc):
    if isinstance(exc, py_buffer.BodyAborted):
        return "aborted"
    if isinstance(exc, py_buffer.BodyTruncated):
        return "truncated"
    if isinstance(exc, TimeoutError):
        return "timeout"
    raise exc


def read_blocking(buf, chunk, timeout=None):
    """Blocking reads (`read1`, GIL released while waiting) to the end of the body; with a
    timeout (seconds) a read waiting longer raises `TimeoutError`, reported as `timeout`."""
    buf.settimeout(timeout)
    state = [0, 0]
    try:
        outcome = _drain(buf, chunk, state)
    except (py_buffer.BodyAborted, py_buffer.BodyTruncated, TimeoutError) as exc:
        outcome = _outcome_of(exc)
    return (outcome, state[0], state[1])


def read_then_close(buf, chunk, limit):
    """Reads about `limit` bytes (whole `read1` chunks), then closes the reading side: the
    writer's next write fails with `reader_closed`."""
    state = [0, 0]
    outcome = "closed"
    try:
        while state[0] < limit:
            data = buf.read1(min(chunk, limit - state[0]))
            if not data:
                outcome = "eof"
                break
            state[0] += len(data)
            state[1] = zlib.crc32(data, state[1])
    except (py_buffer.BodyAborted, py_buffer.BodyTruncated) as exc:
        outcome = _outcome_of(exc)
    buf.close()
    return (outcome, state[0], state[1])


_loop = None
_loop_lock = threading.Lock()


def _event_loop():
    """One asyncio loop on a thread of its own, shared by every asyncio read (as an ASGI
    server's loop is)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="py-soak-loop", daemon=True).start()
            _loop = loop
        return _loop


async def _adrain(buf, chunk, timeout):
    state = [0, 0]
    try:
        while True:
            data = await asyncio.wait_for(buf.aread1(chunk), timeout)
            if not data:
                return ("eof", state[0], state[1])
            state[0] += len(data)
            state[1] = zlib.crc32(data, state[1])
    except (py_buffer.BodyAborted, py_buffer.BodyTruncated, asyncio.TimeoutError) as exc:
        return ("timeout" if isinstance(exc, asyncio.TimeoutError) else _outcome_of(exc),
                state[0], state[1])


def read_asyncio(buf, chunk, timeout=None):
    """`await buf.aread1(chunk)` to the end of the body on the shared loop (woken by the
    writer through the loop's own wake-up); the calling pool thread waits for the result. A
    read waiting longer than `timeout` seconds is cancelled (`asyncio.wait_for`): `timeout`."""
    future = asyncio.run_coroutine_threadsafe(_adrain(buf, chunk, timeout), _event_loop())
    return future.result()


def sleep_in_c(seconds):
    """Blocks in C (`threading.Event().wait`) for a `py:call` timeout to interrupt."""
    threading.Event().wait(seconds)
    return seconds


def fail(message):
    """Raises `ValueError(message)`: the `py:call` exception path."""
    raise ValueError(message)


def live_objects():
    """How many objects of py_buffer's native types (`PyBuffer`, `BufferWriter`, ...) the
    collector can find: tracked ones and those referenced by a tracked object. After
    `gc.collect()`, so unreachable cycles are gone."""
    gc.collect()
    seen = set()
    for obj in gc.get_objects():
        if isinstance(obj, _OUR_TYPES):
            seen.add(id(obj))
        for ref in gc.get_referents(obj):
            if isinstance(ref, _OUR_TYPES):
                seen.add(id(ref))
    return len(seen)


def describe_live_objects(limit=5, depth=6):
    """For a failed end state: up to `limit` live objects of our types, each with a chain of
    objects holding it (type, and the code name of frames), to tell who keeps it."""
    gc.collect()
    found = []
    for obj in gc.get_objects():
        for ref in [obj] + gc.get_referents(obj):
            if isinstance(ref, _OUR_TYPES) and all(ref is not f for f in found):
                found.append(ref)
        if len(found) >= limit:
            break
    out = []
    for obj in found:
        chain, current = [], obj
        seen = {id(found), id(out), id(chain)}
        for _ in range(depth):
            holders = [h for h in gc.get_referrers(current)
                       if id(h) not in seen and h is not chain and h is not found]
            if not holders:
                break
            current = holders[0]
            seen.add(id(current))
            name = getattr(getattr(current, "f_code", None), "co_name", "")
            chain.append(f"{type(current).__name__}{':' + name if name else ''}")
        out.append(f"{type(obj).__name__} <- " + " <- ".join(chain))
    return out
