"""Python side of py_lifecycle_tests.erl: code that runs until a timeout interrupts it."""
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


def sleep(seconds):
    time.sleep(seconds)
    return "slept"
