"""The PEP 3333 ``environ`` of a request, built from a `RequestHead` and its body buffer.

- ``PATH_INFO`` is the percent-decoded path as a latin-1 ``str`` ("bytes as str", PEP 3333),
  after the ``SCRIPT_NAME`` prefix (the head's ``root_path``) when the path starts with it.
- ``CONTENT_TYPE`` / ``CONTENT_LENGTH`` come from their headers (no ``HTTP_`` copies);
  ``CONTENT_LENGTH`` is absent for a chunked body (``Transfer-Encoding`` set), and
  ``wsgi.input_terminated`` is true: ``wsgi.input`` (the body `PyBuffer`) returns ``b""`` at
  the end of the body whatever its framing.
- Other headers become ``HTTP_*`` (upper case, ``-`` → ``_``); repeated headers are joined with
  ``", "``, ``Cookie`` with ``"; "``. Names containing ``_`` are dropped, as nginx and gunicorn
  do: ``X_Forwarded`` would otherwise arrive as the same key as ``X-Forwarded``.
- ``wsgi.errors`` is an `ErrorStream`: text written to it goes, line by line, to the
  ``py_buffer.serve.errors`` logger (at ERROR; with logging unconfigured, Python's
  last-resort handler prints them to stderr).
"""

from __future__ import annotations

import io
import logging
from typing import Any, Dict, Optional
from urllib.parse import unquote_to_bytes

from ._native import PyBuffer
from .responder import RequestHead

__all__ = ["ErrorStream", "build_environ"]

ERRORS_LOG = logging.getLogger("py_buffer.serve.errors")


class ErrorStream(io.TextIOBase):
    """``wsgi.errors``: a text stream whose complete lines go to a logger."""

    def __init__(self, logger: logging.Logger = ERRORS_LOG) -> None:
        super().__init__()
        self._logger = logger
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        text = self._partial + s
        *lines, self._partial = text.split("\n")
        for line in lines:
            self._logger.error("%s", line)
        return len(s)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._partial:
            line, self._partial = self._partial, ""
            self._logger.error("%s", line)


def _latin1(value: bytes) -> str:
    return value.decode("latin-1")


def build_environ(
    head: RequestHead,
    body: PyBuffer,
    *,
    errors: Optional[io.TextIOBase] = None,
    multiprocess: bool = False,
) -> Dict[str, Any]:
    """The WSGI environ of `head`, with `body` as ``wsgi.input``."""
    script_name = head.root_path.rstrip("/")
    path = _latin1(unquote_to_bytes(head.path))
    if script_name and (path == script_name or path.startswith(script_name + "/")):
        path = path[len(script_name) :]
    server_name, server_port = head.server or ("localhost", 443 if head.scheme == "https" else 80)
    environ: Dict[str, Any] = {
        "REQUEST_METHOD": head.method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": _latin1(head.query_string),
        "RAW_URI": _latin1(head.path + (b"?" + head.query_string if head.query_string else b"")),
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": "HTTP/" + head.http_version,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": head.scheme,
        "wsgi.input": body,
        "wsgi.input_terminated": True,
        "wsgi.errors": errors if errors is not None else ErrorStream(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
    }
    if head.client is not None:
        environ["REMOTE_ADDR"] = head.client[0]
        environ["REMOTE_PORT"] = str(head.client[1])
    chunked = False
    for raw_name, raw_value in head.headers:
        name = _latin1(raw_name).upper()
        value = _latin1(raw_value)
        if name == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT-LENGTH":
            environ["CONTENT_LENGTH"] = value
            continue
        if name == "TRANSFER-ENCODING":
            chunked = True
        if "_" in name:
            continue
        key = "HTTP_" + name.replace("-", "_")
        if key in environ:
            sep = "; " if key == "HTTP_COOKIE" else ", "
            environ[key] = environ[key] + sep + value
        else:
            environ[key] = value
    if chunked:
        environ.pop("CONTENT_LENGTH", None)
    return environ
