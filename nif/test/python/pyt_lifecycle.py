"""Python side of py_lifecycle_tests.erl: code that runs until a timeout interrupts it."""
import threading
import time

interrupted = False


def spin():
    """Runs until interrupted; records the TimeoutError."""
    global interrupted
    try:
        while True:
            pass
    except TimeoutError:
        interrupted = True
        raise


def was_interrupted():
    return interrupted


landed = None


def wait_then_spin(seconds):
    """Waits `seconds` in `threading` (standard-library code, where an interrupt is held
    back), then spins until interrupted; records where the TimeoutError landed."""
    global landed
    try:
        threading.Event().wait(seconds)
    except TimeoutError:
        landed = "in the wait"
        raise
    try:
        while True:
            pass
    except TimeoutError:
        landed = "after the wait"
        raise


def where_it_landed():
    return landed


def sleep(seconds):
    time.sleep(seconds)
    return "slept"


_kept = []


def keep(bufs):
    """Keeps `bufs` past this call (as an ASGI request's task keeps its body)."""
    _kept.extend(bufs)
    return len(_kept)


def drop_kept():
    """Drops what `keep` kept; returns how many."""
    n = len(_kept)
    _kept.clear()
    return n
