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

__all__ = ["Status", "checked_header", "checked_phrase", "checked_status"]

#: RFC 9110 §5.6.2 ``token``.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
#: What a field value must not hold (RFC 9110 §5.5).
_FORBIDDEN_IN_VALUE = re.compile(rb"[\r\n\x00]")
#: RFC 9112 §4 ``reason-phrase``: HTAB, SP, VCHAR, obs-text.
_PHRASE = re.compile(r"[\t\x20-\x7e\x80-\xff]*\Z")


class Status(int):
    """A status code with the reason phrase the app gave (a WSGI status line's text), like
    `http.HTTPStatus`'s ``phrase``: an ``int`` everywhere a code is expected, and a server
    that writes status lines sends ``phrase`` (PEP 3333: the status string is the app's)."""

    phrase: str

    def __new__(cls, code: int, phrase: str) -> "Status":
        status = super().__new__(cls, code)
        status.phrase = phrase
        return status


def checked_status(status: int) -> int:
    """`status` if it is a three-digit status code (RFC 9110 §15), else `ValueError`."""
    if not 100 <= status <= 999:
        raise ValueError(f"a response status is a three-digit code, not {status!r}")
    return status


def checked_phrase(phrase: str) -> str:
    """`phrase` if it can follow the code in a status line (RFC 9112 §4: tabs, spaces,
    visible characters, Latin-1 beyond ASCII), else `ValueError`."""
    if not _PHRASE.match(phrase):
        raise ValueError(f"a reason phrase holds no control character, not {phrase!r}")
    return phrase


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
