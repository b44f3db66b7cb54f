"""Native methods the rest of the suite reaches only indirectly, called directly once, so the
memcheck subset (docs/reliability.md) runs every method of the extension: `readall`, the
buffer protocol's `__buffer__` / `__release_buffer__`, `__len__`, iteration, the context
manager, `__aiter__` / `__anext__`."""

import asyncio
import threading

from py_buffer import PyBuffer


def test_readall_len_iteration_and_context_manager():
    b = PyBuffer()
    w = b.writer()
    w.write(b"a\nbc\n")
    assert len(b) == 5
    assert next(iter(b)) == b"a\n"
    w.write(b"rest")
    w.close()
    with b as same:
        assert same.readall() == b"bc\nrest"
    assert b.closed


def test_buffer_export_is_released_and_reexported_after_writes():
    b = PyBuffer()
    w = b.writer()
    for i in range(50):
        w.write(bytes([i]) * 1000)
        with memoryview(b) as view:  # __buffer__, then __release_buffer__
            assert view[-1] == i
    w.close()
    view = memoryview(b)
    b.read()
    assert len(view) == 50_000, "an export outlives the reads that consume its bytes"
    view.release()


def test_async_iteration_woken_by_a_thread():
    b = PyBuffer()
    w = b.writer()

    def produce():
        for _ in range(20):
            w.write(b"line\n")
        w.close()

    async def main():
        threading.Thread(target=produce).start()
        return [line async for line in b]

    assert asyncio.run(main()) == [b"line\n"] * 20
