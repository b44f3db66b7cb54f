"""A module whose import takes a while (the concurrent-first-import test)."""
import time

time.sleep(1.0)


def f():
    return "done"
