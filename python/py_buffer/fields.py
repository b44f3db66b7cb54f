"""The response status and header fields an app may send, as HTTP/1.1 allows them on the wire.

Both adapters check an app's response head here before it leaves, so a header value built
from request data cannot split the response (RFC 9110 §5.5: a field value holds no CR, LF or
NUL; §5.1: a field name is a token) and the server never has to frame a status it cannot
write. A head that breaks these rules is the app's error: ``start_response`` or ``send``
raises `ValueError`, and the request gets a 500 like any other app error before its head
(gunicorn and uvicorn refuse such heads too).
"""

from __future__ import annotations

import re
from typing import Tuple

__all__ = ["checked_header", "checked_status"]

#: RFC 9110 §5.6.2 ``token``.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
#: What a field value must not hold (RFC 9110 §5.5).
_FORBIDDEN_IN_VALUE = re.compile(rb"[\r\n\x00]")


def checked_status(status: int) -> int:
    """`status` if it is a three-digit status code (RFC 9110 §15), else `ValueError`."""
    if not 100 <= status <= 999:
        raise ValueError(f"a response status is a three-digit code, not {status!r}")
    return status


def checked_header(name: bytes, value: bytes) -> Tuple[bytes, bytes]:
    """``(name, value)`` if HTTP/1.1 can carry them as one header line, else `ValueError`."""
    if not _TOKEN.match(name):
        raise ValueError(f"a response header name is a token (RFC 9110 §5.1), not {name!r}")
    if _FORBIDDEN_IN_VALUE.search(value):
        raise ValueError(
            f"response header {name!r}: a value holds no CR, LF or NUL (RFC 9110 §5.5), "
            f"not {value!r}"
        )
    return name, value
