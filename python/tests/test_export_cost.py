"""``memoryview(buf)`` alternating with writes copies only the new bytes.
Measured by address, not time: each export's first byte is where the previous export's was
(the merged memory is extended in place), except for the few rounds where it grows. Before,
every export re-merged every unread byte into new memory (quadratic)."""

from __future__ import annotations

import ctypes

from py_buffer import PyBuffer


class _PyBuffer(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.py_object),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


def export_address(obj: object) -> int:
    """The address of the first byte of a read-only export of `obj`."""
    view = _PyBuffer()
    get = ctypes.pythonapi.PyObject_GetBuffer
    get.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
    assert get(obj, ctypes.byref(view), 0) == 0
    try:
        return int(view.buf)
    finally:
        release = ctypes.pythonapi.PyBuffer_Release
        release.argtypes = [ctypes.POINTER(_PyBuffer)]
        release(ctypes.byref(view))


def test_exports_alternating_with_writes_reuse_the_merged_memory():
    b = PyBuffer()
    w = b.writer()
    expected = bytearray()
    views = []
    moves = 0
    previous = None
    for k in range(200):
        chunk = bytes([k % 251]) * 65536
        w.write(chunk)
        expected += chunk
        mv = memoryview(b)
        views.append(mv)  # earlier exports stay valid and unchanged
        address = export_address(b)
        if previous is not None and address != previous:
            moves += 1
        previous = address
    assert moves <= 10, f"{moves} of 200 exports re-copied the earlier bytes"
    assert views[-1].tobytes() == bytes(expected)
    assert views[0].tobytes() == bytes(expected[:65536])
    for mv in views:
        mv.release()
