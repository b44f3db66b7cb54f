"""A module whose import runs bytecode for a while (py_lifecycle_tests, interrupts and the
import system): a timed-out call's interrupt could land anywhere in its body or in the import
system's Python code around it, whose module locks every importing thread shares."""
import time

_end = time.monotonic() + 0.02
while time.monotonic() < _end:
    pass


def value():
    return 42
