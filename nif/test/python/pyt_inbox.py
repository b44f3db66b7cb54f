"""Python side of py_inbox_tests.erl: threads of their own that take the calls
`pyt_inbox.<function>(key, ...)` through an `erlang.Inbox` (opened and closed by the tests)."""
import select
import threading
import time

import erlang

_owners = {}


class Owner:
    """A thread serving one inbox: runs its calls whenever its descriptor is readable, unless
    held (then calls stay queued)."""

    def __init__(self, function, key):
        self.function = function
        self.key = key
        self.inbox = None
        self.opened = threading.Event()
        self.running = threading.Event()
        self.running.set()
        self.stopping = False
        self.error = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.opened.wait(10)
        if self.error is not None:
            raise self.error

    def _serve(self):
        try:
            self.inbox = erlang.Inbox(__name__, self.function, self.key)
        except ValueError as error:
            self.error = error
            self.opened.set()
            return
        self.opened.set()
        while not self.stopping:
            self.running.wait()
            readable, _, _ = select.select([self.inbox.fileno()], [], [], 0.05)
            if readable and self.running.is_set():
                self.inbox.run()


def open_inbox(function, key):
    """Opens the inbox claiming `function(key, ...)` on a new thread; that thread's ident."""
    owner = Owner(function, key)
    _owners[key] = owner
    return owner.thread.ident


def hold(key):
    """The owner stops running its calls (they stay queued)."""
    _owners[key].running.clear()


def release(key):
    _owners[key].running.set()


def close(key):
    """Closes the inbox (queued calls go to the pool) and ends its thread; its served count."""
    owner = _owners.pop(key)
    owner.inbox.close()
    owner.stopping = True
    owner.running.set()
    owner.thread.join(10)
    return owner.inbox.served


def served(key):
    return _owners[key].inbox.served


def pending(key):
    return _owners[key].inbox.pending


def open_again(key):
    """A second inbox for the same calls, on this thread: raises ValueError while one is open."""
    inbox = erlang.Inbox(__name__, "where", key)
    inbox.close()
    return True


def where(key, n):
    """The thread a call ran on, and its own argument back."""
    return threading.get_ident(), n


finished = []


def sleep_where(key, seconds):
    """Sleeps, then records that it finished (never cut short by a TimeoutError)."""
    try:
        time.sleep(seconds)
    except BaseException as error:
        finished.append(repr(error))
        raise
    finished.append("finished")
    return threading.get_ident()


def finished_sleeps():
    return list(finished)
