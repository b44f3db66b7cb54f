"""The entry points an embedding server calls (the Erlang request API), by app name.

An app is named ``"package.module:attribute"`` (a dotted attribute path is allowed) or given
as the object itself; names are imported once and cached. Every request gets its description
(a mapping, see `RequestHead.from_mapping`), the request body buffer (written by the server),
the response buffer (bounded, written here, read by the server) and ``send``, which delivers
`ChannelResponder`'s messages (``("start", ...)``, ``("finish", ...)``, ``("fail", ...)``) to
the server's request process: a callable ``send(message)``, or inside the BEAM an
``erlang.Pid`` (messages go there with ``erlang.send``) or a ``(pid, tag)`` pair (each message
is sent as ``(tag, message)``, e.g. with a reference for a selective receive).

- ``wsgi(app, request, body, response, send)``: runs the WSGI app on the calling thread and
  returns when the response is finished or failed (call it on a worker thread: it blocks,
  with the GIL released, while the body is slow or the response buffer full).
- ``asgi(app, request, body, response, send)``: hands the request to the app's event-loop
  thread and returns at once; the outcome arrives through ``send``. The first request of an
  app starts its loop thread and runs its lifespan startup (``asgi_startup`` does that ahead
  of time, raising if the startup failed); ``asgi_shutdown(app, drain)`` waits up to
  ``drain`` seconds for the app's running calls, runs the shutdown and ends the thread. Inside the BEAM the loop thread then claims the app's later ``asgi`` calls
  (``erlang.Inbox``): the NIF queues them for the loop itself, so a request costs the loop's
  wake-up only, not a pool worker's as well (and a GIL hand-over between the two).
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from typing import Any, Callable, Dict, Union

from ._native import PyBuffer
from .asgi_host import AsgiHost
from .responder import ChannelResponder
from .wsgi import WsgiAdapter

__all__ = ["asgi", "asgi_shutdown", "asgi_startup", "load", "sender", "wsgi"]

AppRef = Union[str, Any]

_lock = threading.Lock()
_wsgi: Dict[Any, WsgiAdapter] = {}
_asgi: Dict[Any, AsgiHost] = {}
#: One lock per host: its first requests, arriving together on several worker threads,
#: start it (lifespan startup) once, the others waiting for that startup.
_starting: Dict[AsgiHost, threading.Lock] = {}
#: The `erlang.Inbox` through which a started host's loop thread takes its app's requests.
_inboxes: Dict[AsgiHost, Any] = {}


def load(app: AppRef) -> Any:
    """The app named ``"module:attr.path"``; any other object is returned as it is."""
    if not isinstance(app, str):
        return app
    module_name, sep, attr = app.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"an app name looks like 'package.module:attribute', not {app!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _wsgi_adapter(app: AppRef) -> WsgiAdapter:
    with _lock:
        adapter = _wsgi.get(app)
        if adapter is None:
            adapter = _wsgi[app] = WsgiAdapter(load(app))
        return adapter


def _asgi_host(app: AppRef) -> AsgiHost:
    with _lock:
        host = _asgi.get(app)
        if host is None:
            host = _asgi[app] = AsgiHost(load(app))
            _starting[host] = threading.Lock()
        return host


def _started_asgi_host(app: AppRef) -> AsgiHost:
    host = _asgi_host(app)
    if not host.started:
        with _starting[host]:
            if not host.started:
                host.start()
                _open_inbox(app, host)
    return host


def _open_inbox(app: AppRef, host: AsgiHost) -> None:
    """Inside the BEAM, lets the loop thread take the calls ``asgi(app, ...)`` itself (an app
    given by name only: the calls name it so)."""
    if not isinstance(app, str):
        return
    try:
        import erlang  # type: ignore[import-not-found]  # only inside the BEAM (the NIF)
    except ImportError:
        return

    async def open_inbox() -> Any:
        inbox = erlang.Inbox(__name__, asgi.__name__, app)
        asyncio.get_running_loop().add_reader(inbox.fileno(), inbox.run)
        return inbox

    try:
        _inboxes[host] = host.runner.call(open_inbox())
    except ValueError:
        # The host of an `asgi_shutdown` still running holds the claim: this one's requests
        # keep going through the pool.
        pass


def _close_inbox(host: AsgiHost) -> None:
    """Gives the loop thread's claim up: requests go through the pool again."""
    inbox = _inboxes.pop(host, None)
    if inbox is None:
        return

    async def stop_reading() -> None:
        asyncio.get_running_loop().remove_reader(inbox.fileno())

    try:
        host.runner.call(stop_reading())
    finally:
        inbox.close()


def sender(send: Any) -> Callable[[Any], Any]:
    """The ``send(message)`` callable for `send`: a callable as it is, an ``erlang.Pid``, or
    a ``(pid, tag)`` pair (messages then go as ``(tag, message)``)."""
    if callable(send):
        return send  # type: ignore[no-any-return]
    import erlang  # type: ignore[import-not-found]  # only inside the BEAM (the NIF)

    if isinstance(send, tuple) and len(send) == 2:
        pid, tag = send
        return lambda message: erlang.send(pid, (tag, message))
    return lambda message: erlang.send(send, message)


def wsgi(app: AppRef, request: Any, body: PyBuffer, response: PyBuffer, send: Any) -> None:
    """Serves one request with a WSGI app, on this thread."""
    _wsgi_adapter(app)(request, body, ChannelResponder(sender(send), response))


def asgi(app: AppRef, request: Any, body: PyBuffer, response: PyBuffer, send: Any) -> None:
    """Starts one request of an ASGI app on its loop thread; returns at once."""
    host = _started_asgi_host(app)
    host.dispatch(request, body, ChannelResponder(sender(send), response))


def asgi_startup(app: AppRef) -> None:
    """Starts the app's loop thread and runs its lifespan startup (once)."""
    _started_asgi_host(app)


def asgi_shutdown(app: AppRef, drain: float = 0.0) -> None:
    """Waits up to `drain` seconds for the app's calls still running (work after their
    responses), runs the app's lifespan shutdown and stops its loop thread; a later request
    starts them again."""
    with _lock:
        host = _asgi.pop(app, None)
        starting = _starting.pop(host, None) if host is not None else None
    if host is not None and starting is not None:
        with starting:
            try:
                _close_inbox(host)
            finally:
                host.stop(drain=drain)
