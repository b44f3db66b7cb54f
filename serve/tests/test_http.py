"""py-buffer-serve's HTTP behaviour (issue 11, item 2), each test against the WSGI and the
ASGI test app (serve_apps.py) on a real server on a loopback port."""

import hashlib
import http.client
import json
import os
import socket
import ssl
import time

import httpx
import pytest

from conftest import Server, events, read_until_closed, wait_for
from serve_apps import BLOCK


#: What a send raises once the server closed the connection (plain TCP or TLS).
SEND_AFTER_CLOSE = (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError)


def ids(server, kind):
    return {e["id"] for e in events(server) if e["kind"] == kind and e.get("id")}


def raw(server, data, read=True, timeout=5):
    """Sends `data` on a fresh connection and returns everything the server sends until it
    closes (or `timeout`)."""
    s = server.connect()
    s.settimeout(timeout)
    s.sendall(data)
    out = read_until_closed(s) if read else b""
    s.close()
    return out


def expected(size):
    return hashlib.sha256((BLOCK * (size // len(BLOCK) + 1))[:size]).hexdigest()


def test_hello_and_keep_alive(server):
    conn = server.http_connection()
    for _ in range(3):
        conn.request("GET", "/")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b"hello\n")
        assert r.getheader("connection") != "close"
    sock = conn.sock
    conn.request("GET", "/")
    conn.getresponse().read()
    assert conn.sock is sock  # one connection for all four
    conn.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_upload(server, chunked):
    data = os.urandom(5 << 20 | 123)
    if chunked:
        body = (data[i:i + 100_000] for i in range(0, len(data), 100_000))
        r = httpx.post(server.url + "/upload", content=body, verify=server.verify)
    else:
        r = httpx.post(server.url + "/upload", content=data, verify=server.verify)
    assert r.status_code == 200
    assert r.json() == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("length", ["", "1"])
def test_download(server, length):
    size = (8 << 20) + 7
    with httpx.stream("GET", f"{server.url}/download?size={size}&length={length}",
                      verify=server.verify) as r:
        assert r.status_code == 200
        if length:
            assert r.headers["content-length"] == str(size)
        else:
            assert r.headers["transfer-encoding"] == "chunked"
        digest = hashlib.sha256()
        for chunk in r.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == expected(size)


def test_head(server):
    for length in ("", "1"):
        conn = server.http_connection()
        conn.request("HEAD", f"/download?size=100000&length={length}")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b""
        conn.request("GET", "/")  # the connection still works: no body was sent
        assert conn.getresponse().read() == b"hello\n"
        conn.close()


def test_head_of_a_streamed_body_without_length_has_none(server):
    # RFC 9110 §9.3.2: a HEAD answer's Content-Length, if any, is the GET's; the app gave
    # none and no body, so the server must not invent one (it said 0 before).
    out = raw(server, b"HEAD /download?size=100000 HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")
    assert b"content-length" not in out.lower()
    assert out.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("say, give", [(1000, 70000), (70000, 1000)])
def test_a_body_that_disagrees_with_its_content_length_is_cut_and_closes(server, say, give):
    # RFC 9112 §6.3: the length ends the message. Bytes beyond it would be read as the next
    # response on a kept-alive connection; a body ending short leaves the client waiting. The
    # server sends at most `say` bytes and closes the connection at once in both cases.
    s = server.connect()
    s.settimeout(5)
    s.sendall(b"GET /lying-length?say=%d&give=%d HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" % (say, give))
    started = time.monotonic()
    out = read_until_closed(s)
    elapsed = time.monotonic() - started
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"content-length: %d" % say in head.lower()
    assert (len(body), hashlib.sha256(body).hexdigest()) == (min(say, give),
                                                             expected(min(say, give)))
    assert elapsed < 1.5  # closed by the server, not by --header-timeout 2


@pytest.mark.parametrize("value", [b"a%0d%0aSet-Cookie:%20x=1", b"a%0aX-Injected:%201",
                                   b"a%00b"])
def test_a_header_value_with_cr_lf_or_nul_is_a_500(server, value):
    # Response splitting: a value copied from the request must not add header lines
    # (RFC 9110 §5.5); the app's head is refused and the request answered 500.
    out = raw(server, b"GET /echo-header?v=%s HTTP/1.1\r\nHost: x\r\n\r\n" % value)
    assert out.startswith(b"HTTP/1.1 500 ")
    assert b"set-cookie" not in out.lower() and b"x-injected" not in out.lower()
    assert b"x-echo" not in out.lower()


def test_a_valid_header_value_is_sent(server):
    r = httpx.get(server.url + "/echo-header?v=a%20b", verify=server.verify)
    assert (r.status_code, r.headers["x-echo"], r.content) == (200, "a b", b"ok\n")


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n b\r\n\r\n",           # obs-fold
    b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",     # two hosts
    b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n",                                    # no host
])
def test_malformed_heads_are_400_and_never_reach_the_app(server, head):
    # RFC 9112 §5.2 (a server may reject obs-fold with 400) and §3.2 (an HTTP/1.1 request
    # without a Host, or with more than one: MUST answer 400).
    out = raw(server, head)
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b"hello" not in out


def test_two_cookie_lines_keep_every_cookie(server):
    # mochiweb joins repeated headers with ", ", which would make "a=1, b=2" one cookie;
    # ASGI gets each line as sent, WSGI one HTTP_COOKIE joined with "; " (PEP 3333 / CGI).
    out = raw(server, b"GET /cookies HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\n"
                      b"Cookie: b=2; c=3\r\nConnection: close\r\n\r\n")
    cookies = json.loads(out.partition(b"\r\n\r\n")[2])
    if server.interface == "asgi":
        assert cookies == ["a=1", "b=2; c=3"]
    else:
        assert cookies == ["a=1; b=2; c=3"]


def test_repeated_headers_reach_asgi_as_sent(server):
    # ASGI: "duplicates ... must be preserved in the message as received" (order included);
    # WSGI: one CGI variable per name, joined with ", " (PEP 3333 / RFC 9110 §5.3).
    out = raw(server, b"GET /headers HTTP/1.1\r\nHost: x\r\nX-Tag: 1\r\nAccept: */*\r\n"
                      b"X-Tag: 2  \r\nConnection: close\r\n\r\n")
    seen = json.loads(out.partition(b"\r\n\r\n")[2])
    if server.interface == "asgi":
        assert seen == [["host", "x"], ["x-tag", "1"], ["accept", "*/*"], ["x-tag", "2"],
                        ["connection", "close"]]
    else:
        assert ["HTTP_X_TAG", "1, 2"] in seen


@pytest.mark.parametrize("line", [b"X-Bad\r\n", b"Content-Length : 0\r\n",
                                  b"X(Y): a\r\n"])
def test_an_unreadable_header_line_is_400_at_once(server, line):
    # RFC 9112 §5.1: whitespace before the colon MUST be a 400; mochiweb's loop ignored such
    # lines, and the client waited for the header timeout.
    started = time.monotonic()
    out = raw(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    assert time.monotonic() - started < 1.5  # not --header-timeout 2


@pytest.mark.parametrize("request_line", [b"GARBAGE\r\n\r\n", b"GET /a b HTTP/1.1\r\n\r\n"])
def test_an_unreadable_request_line_is_400_at_once(server, request_line):
    started = time.monotonic()
    out = raw(server, request_line)
    assert out.startswith(b"HTTP/1.1 400 ")
    assert time.monotonic() - started < 1.5


def test_a_head_beyond_64_kib_is_431_and_a_long_request_line_414(server):
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
    out = raw(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert out.startswith(b"HTTP/1.1 431 ")
    fields = b"".join(b"X-H%d: v\r\n" % i for i in range(201))
    out = raw(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert out.startswith(b"HTTP/1.1 431 ")
    out = raw(server, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 414 ")
    # Within the bounds: served.
    out = raw(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 500) for i in range(100))
                      + b"\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")


def chunked_upload(server, body_bytes, then=b""):
    return raw(server, b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + body_bytes + then)


def test_chunk_extensions_are_ignored(server):
    # RFC 9112 §7.1.1: a recipient MUST ignore unrecognized chunk extensions.
    out = chunked_upload(server, b"5;name=value\r\nhello\r\n6 ; a=1;b\r\n world\r\n0;x\r\n\r\n",
                         b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")
    assert json.dumps({"bytes": 11, "sha256": hashlib.sha256(b"hello world").hexdigest()}).encode() in out
    assert out.endswith(b"hello\n")  # the pipelined GET / after it


@pytest.mark.parametrize("size_line", [b"+5", b"5 zzz", b"5\rZ", b"0x5", b""])
def test_a_chunk_size_that_is_not_hex_digits_is_400(server, size_line):
    out = chunked_upload(server, size_line + b"\r\nhello\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")


def test_trailers_end_at_a_bare_lf_and_the_next_request_is_served(server):
    # mochiweb read trailers until a line that was exactly CR LF, so after "0\r\n\n" the
    # pipelined request was taken for trailer lines and never answered.
    out = chunked_upload(server, b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\n",
                         b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200 ") == 2 and out.endswith(b"hello\n")
    out = chunked_upload(server, b"5\r\nhello\r\n0\r\nnot a field\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")


def test_no_100_continue_inside_a_started_response(server):
    # A 1xx cannot follow the final response's head: the app started its response before
    # reading the body, so 100 Continue is never sent; the client sends its body after its
    # own wait, and the app reads it.
    s = server.connect()
    s.settimeout(5)
    s.sendall(b"POST /early-then-read HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
              b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
    first = s.recv(65536)
    while b"first;" not in first:
        first += s.recv(65536)
    s.sendall(b"hello")
    out = first + read_until_closed(s)
    s.close()
    assert out.startswith(b"HTTP/1.1 200 ")
    assert b"100 Continue" not in out
    assert b"got 5" in out


def test_the_apps_connection_close_is_honoured(server):
    # RFC 9112 §9.6: a server that sends "Connection: close" closes after that response.
    out = raw(server, b"GET /app-closes HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.count(b"HTTP/1.1 ") == 1 and out.endswith(b"bye\n")
    assert out.lower().count(b"connection: close") == 1


def test_an_empty_content_length_is_400(server):
    # RFC 9112 §6.3: an invalid Content-Length is a 400 and a close; taken as 0, the body
    # after the head was read as the next request.
    out = raw(server, b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n"
                      b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ") and out.count(b"HTTP/1.1 ") == 1


def test_an_answer_before_the_body_goes_out_at_once(server):
    # The app answers without reading its body while the client is still sending: the
    # response must not wait for the rest of the body (it waited, then was lost at the
    # body timeout). gunicorn and uvicorn answer at once.
    s = server.connect()
    s.settimeout(1.5)
    s.sendall(b"POST /never-reads HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
              + b"x" * 10)
    head = s.recv(65536)
    s.close()
    assert head.startswith(b"HTTP/1.1 200 ") and b"did not read" in head


@pytest.mark.parametrize("chunked", [False, True])
def test_a_slow_upload_that_keeps_sending_is_not_timed_out(server, chunked):
    # --body-timeout 2 is the longest the client may send nothing, not the time a whole
    # read unit (up to 256 KiB) or chunk may take: 1 KiB every 0.4 s for 3.2 s completes,
    # also inside one chunk of 8 KiB.
    s = server.connect()
    s.settimeout(10)
    framing = b"Transfer-Encoding: chunked\r\n\r\n2000\r\n" if chunked else \
        b"Content-Length: 8192\r\n\r\n"
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + framing)
    for _ in range(8):
        time.sleep(0.4)
        s.sendall(b"u" * 1024)
    if chunked:
        s.sendall(b"\r\n0\r\n\r\n")
    out = read_until_closed(s)
    s.close()
    assert out.startswith(b"HTTP/1.1 200 ")
    assert json.loads(out.partition(b"\r\n\r\n")[2])["bytes"] == 8192


def dechunk(data):
    """The body of a chunked response (`data`: the bytes after its head), and the bytes after
    it; `None` if it is not complete."""
    body = b""
    while True:
        line, sep, rest = data.partition(b"\r\n")
        if not sep:
            return None
        size = int(line, 16)
        if len(rest) < size + 2:
            return None
        if size == 0:
            assert rest.startswith(b"\r\n")
            return body, rest[2:]
        body, data = body + rest[:size], rest[size + 2:]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_streams_both_ways_at_once(server, chunked):
    # Full duplex: each piece comes back before the client sends the next (uvicorn and
    # Granian do this; the body read used to wait for a whole read unit, so the first
    # piece never came back and the client waited forever).
    pieces = [b"<piece %03d %s>" % (i, b"x" * (i * 37 % 200)) for i in range(30)]
    s = server.connect()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(5)
    framing = (b"Transfer-Encoding: chunked" if chunked
               else b"Content-Length: %d" % sum(map(len, pieces)))
    s.sendall(b"POST /duplex HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + framing
              + b"\r\n\r\n")
    got = b""
    for piece in pieces:
        s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        while piece not in got:
            data = s.recv(65536)  # raises TimeoutError if the piece does not come back
            assert data, got
            got += data
    if chunked:
        s.sendall(b"0\r\n\r\n")
    got += read_until_closed(s)
    s.close()
    head, _, rest = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert dechunk(rest) == (b"".join(pieces), b"")


@pytest.mark.parametrize("split", [None, 3, 30])
def test_requests_pipelined_behind_a_body_are_served_in_order(server, split):
    # The second request comes in the same read as the first one's body (or its head is cut
    # `split` bytes in, the rest sent later): the bytes after the body are its head and body.
    first = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    second = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
              b"Connection: close\r\n\r\n3\r\nwor\r\n2\r\nld\r\n0\r\n\r\n")
    s = server.connect()
    s.settimeout(5)
    if split is None:
        s.sendall(first + second)
    else:
        s.sendall(first + second[:split])
        time.sleep(0.3)
        s.sendall(second[split:])
    out = read_until_closed(s)
    s.close()
    assert out.count(b"HTTP/1.1 200 ") == 2
    one, two = out.split(b"HTTP/1.1 200 ")[1:]
    assert one.endswith(b"\r\n\r\nhello") and two.endswith(b"\r\n\r\nworld")


def test_a_pipelined_head_cut_short_ends_at_the_header_timeout(server):
    # The next head's first bytes came with the body, the rest never comes: the header
    # timeout (2 s) closes the connection after the first answer.
    s = server.connect()
    s.settimeout(10)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST /ec")
    start = time.monotonic()
    out = read_until_closed(s)
    s.close()
    assert out.count(b"HTTP/1.1 ") == 1 and out.endswith(b"hello")
    assert 1.5 < time.monotonic() - start < 6


def test_a_client_leaving_while_its_app_runs_is_seen_at_once(server):
    # ASGI: receive() returns http.disconnect as soon as the client closes (uvicorn: within
    # 0.5 s), not at the first write that fails; a long poll ends with it.
    if server.interface != "asgi":
        pytest.skip("ASGI: a WSGI app cannot wait for its client otherwise than by reading")
    s = server.connect()
    s.sendall(b"POST /wait-disconnect?id=lp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    assert wait_for(lambda: "lp" in ids(server, "waiting"))
    closed = time.monotonic()
    s.close()
    assert wait_for(lambda: "lp" in ids(server, "disconnected"))
    [event] = [e for e in events(server) if e["kind"] == "disconnected" and e["id"] == "lp"]
    assert event["type"] == "http.disconnect"
    assert event["t"] - closed < 1.0


def test_a_client_that_pipelined_and_left_is_seen_at_once(server):
    # The next request came with the body (its bytes read ahead): the socket is watched all
    # the same, in raw mode, and its close reaches the waiting app.
    if server.interface != "asgi":
        pytest.skip("ASGI: a WSGI app cannot wait for its client otherwise than by reading")
    s = server.connect()
    s.sendall(b"POST /wait-disconnect?id=pl HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"
              b"hiGET / HTTP/1.1\r\nHo")
    assert wait_for(lambda: "pl" in ids(server, "waiting"))
    s.sendall(b"st: x\r\n")  # more of it, kept while watching
    s.close()
    assert wait_for(lambda: "pl" in ids(server, "disconnected"))


def test_bytes_pipelined_in_pieces_while_the_app_runs_make_the_next_request(server):
    s = server.connect()
    s.settimeout(10)
    s.sendall(b"POST /sleep?s=0.5 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n"
              b"xPOST /echo HTTP/1.1\r\n")
    for piece in (b"Host: x\r\nContent-", b"Length: 5\r\nConnection: close\r\n", b"\r\nhel",
                  b"lo"):
        time.sleep(0.05)  # separate segments while the first app sleeps
        s.sendall(piece)
    out = read_until_closed(s)
    assert out.count(b"HTTP/1.1 200 ") == 2 and b"slept" in out and out.endswith(b"hello")


def test_a_request_pipelined_while_the_app_runs_is_served_after_it(server):
    # The next request's line arrives while the socket is watched for the client's close:
    # it is kept, and served next, its headers and body intact.
    out = raw(server, b"GET /sleep?s=0.3 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      b"Connection: close\r\n\r\nhello")
    assert out.count(b"HTTP/1.1 200 ") == 2
    assert b"slept" in out and out.endswith(b"hello")


def test_http_1_0_keep_alive_is_said_in_the_answer(server):
    # An HTTP/1.0 client keeps its connection only if the answer says "keep-alive".
    out = raw(server, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n")
    first, _, second = out.partition(b"hello\n")
    assert first.startswith(b"HTTP/1.0 200 ") and b"connection: keep-alive" in first.lower()
    assert second.startswith(b"HTTP/1.0 200 ") and b"connection: close" in second.lower()


@pytest.mark.parametrize("target, seen", [
    (b"/target#frag", ["/target", ""]),
    (b"/target?a=1#frag?b", ["/target", "a=1"]),
    (b"http://example.com/target/x?q#f", ["/target/x", "q"]),
])
def test_a_fragment_never_reaches_the_app(server, target, seen):
    # A request target holds no fragment (RFC 9112 §3.2); sent anyway, it is dropped, as
    # uvicorn and gunicorn drop it.
    out = raw(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")
    assert json.loads(out.split(b"\r\n\r\n", 1)[1]) == seen


def test_a_trusted_proxys_headers_give_the_scheme_and_the_client(server):
    # The test client is 127.0.0.1, trusted by default: WSGI wsgi.url_scheme / REMOTE_ADDR /
    # REMOTE_PORT and ASGI scheme / client are the proxy's word (uvicorn's rules). Without
    # it, the connection's own scheme.
    def whoami(headers):
        return httpx.get(server.url + "/whoami", headers=headers, verify=server.verify).json()

    own = "https" if server.tls else "http"
    scheme, host, port = whoami({})
    assert (scheme, host) == (own, "127.0.0.1") and port > 0
    assert whoami({"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7, 10.0.0.2"}) \
        == ["https", "10.0.0.2", 0]  # the last entry no trusted proxy added
    assert whoami({"X-Forwarded-For": "203.0.113.7:5555, 127.0.0.1"}) == [own, "203.0.113.7",
                                                                         5555]
    assert whoami({"X-Forwarded-Proto": "javascript"})[0] == own
    assert whoami({"X-Forwarded-Proto": "http"})[0] == "http"


def test_no_proxy_headers_ignores_them(tmp_module):
    srv = Server("serve_apps:asgi", interface="asgi", tmp=tmp_module,
                 args=["--no-proxy-headers"])
    try:
        scheme, host, _port = httpx.get(srv.url + "/whoami", headers={
            "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}).json()
        assert (scheme, host) == ("http", "127.0.0.1")
    finally:
        assert srv.stop() == 0, srv.log()


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/9.9"])
def test_a_major_version_other_than_1_is_505(server, version):
    out = raw(server, b"GET / " + version + b"\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 505 ")


def test_content_length_too_large(server):
    out = raw(server, b"POST /upload?id=big HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 17000000\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in out.lower()
    time.sleep(0.1)
    assert "big" not in ids(server, "aborted") | ids(server, "complete")


def test_chunked_too_large(server):
    chunk = b"%x\r\n" % (1 << 20) + b"x" * (1 << 20) + b"\r\n"
    s = server.connect()
    s.sendall(b"POST /upload?id=bigchunked HTTP/1.1\r\nHost: x\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    try:
        for _ in range(20):
            s.sendall(chunk)
    except SEND_AFTER_CLOSE:
        pass
    s.settimeout(5)
    out = read_until_closed(s)
    s.close()
    assert out.startswith(b"HTTP/1.1 413 "), out[:200]
    assert wait_for(lambda: "bigchunked" in ids(server, "aborted"))


@pytest.mark.parametrize("headers", [
    b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    b"Content-Length: 5\r\nContent-Length: 6\r\n",
    b"Content-Length: abc\r\n",
    b"Content-Length: -5\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Transfer-Encoding: identity\r\n",
])
def test_bad_framing(server, headers):
    out = raw(server, b"POST /upload?id=framing HTTP/1.1\r\nHost: x\r\n" + headers +
              b"\r\nhello")
    assert out.startswith(b"HTTP/1.1 400 "), out
    time.sleep(0.05)
    assert "framing" not in ids(server, "aborted") | ids(server, "complete")


@pytest.mark.parametrize("headers, body", [
    (b"Connection: keep-alive ,\tclose\r\nContent-Length: 5\r\n", b"hello"),
    (b"Connection: close\r\nContent-Length:  5 ,\t5\r\n", b"hello"),
    (b"Connection: close\r\nTransfer-Encoding: \tChunked \r\n", b"5\r\nhello\r\n0\r\n\r\n"),
])
def test_list_values_around_optional_whitespace(server, headers, body):
    # Spaces and tabs around a list's values (RFC 9110 §5.6.1), any case of a token: the
    # connection closes after the response (read until closed), the body is the 5 bytes.
    out = raw(server, b"POST /upload?id=ows HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body)
    assert out.startswith(b"HTTP/1.1 200 "), out[:200]
    assert json.loads(out.split(b"\r\n\r\n", 1)[1])["bytes"] == 5


def test_repeated_equal_lengths_accepted(server):
    out = raw(server, b"POST /upload?id=twice HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello")
    assert out.startswith(b"HTTP/1.1 200 ")
    assert json.loads(out.split(b"\r\n\r\n", 1)[1])["bytes"] == 5


def test_malformed_chunk(server):
    out = raw(server, b"POST /upload?id=badchunk HTTP/1.1\r\nHost: x\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out
    assert wait_for(lambda: "badchunk" in ids(server, "aborted"))


def test_expect_continue(server):
    s = server.connect()
    s.settimeout(5)
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
              b"Content-Length: 5\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    s.sendall(b"hello")
    out = s.recv(65536)
    assert out.startswith(b"HTTP/1.1 200 ")
    s.close()


def test_expect_continue_only_when_the_app_reads(server):
    s = server.connect()
    s.settimeout(0.3)
    s.sendall(b"POST /late-read?s=0.6 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
              b"Content-Length: 5\r\n\r\n")
    with pytest.raises(socket.timeout):
        s.recv(100)  # the app has not asked for its body yet
    s.settimeout(5)
    assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(b"hello")
    out = s.recv(65536)
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b'{"bytes": 5}')
    s.close()


def test_expect_continue_never_read(server):
    out = raw(server, b"POST /never-reads HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Length: 5000000\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")  # no 100 Continue, and the connection closed
    assert b"connection: close" in out.lower() and out.endswith(b"did not read\n")


def test_unread_body_drained_keep_alive(server):
    conn = server.http_connection()
    conn.request("POST", "/never-reads", body=b"x" * 300_000)
    r = conn.getresponse()
    assert (r.status, r.read()) == (200, b"did not read\n")
    sock = conn.sock
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"hello\n"
    assert conn.sock is sock
    conn.close()


def test_unread_large_body_closes(server):
    s = server.connect()
    s.settimeout(5)
    s.sendall(b"POST /never-reads HTTP/1.1\r\nHost: x\r\nContent-Length: 8000000\r\n\r\n")
    try:
        for _ in range(8):
            s.sendall(b"y" * 1_000_000)
    except SEND_AFTER_CLOSE:
        pass
    out = read_until_closed(s)
    assert out.startswith(b"HTTP/1.1 200 ")
    assert out.endswith(b"did not read\n")  # then the server closed the connection


def test_client_gone_mid_upload(server):
    s = server.connect()
    s.sendall(b"POST /upload?id=gone HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
    s.sendall(b"z" * 1_000_000)
    time.sleep(0.1)
    closed = time.monotonic()
    s.close()
    seen = wait_for(lambda: [e for e in events(server)
                             if e["kind"] == "aborted" and e.get("id") == "gone"])
    assert seen and seen[0]["t"] - closed < 0.1


def seconds_until_closed_unanswered(sock):
    """Seconds until the server closes `sock` without sending a byte (a reset counts)."""
    start = time.monotonic()
    try:
        assert sock.recv(65536) == b""
    except (ConnectionResetError, ssl.SSLEOFError):
        pass
    return time.monotonic() - start


def test_body_timeout(server):
    s = server.connect()
    s.settimeout(6)
    s.sendall(b"POST /upload?id=idle HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
    assert 1.5 < seconds_until_closed_unanswered(s) < 4  # --body-timeout 2
    assert wait_for(lambda: "idle" in ids(server, "aborted"))


def test_header_timeout(server):
    s = server.connect()
    s.settimeout(6)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert 1.5 < seconds_until_closed_unanswered(s) < 4  # --header-timeout 2


def test_timeouts_rearm_on_a_kept_alive_connection(server):
    # Each deadline starts anew with the request it belongs to: a connection that served
    # requests for longer than --header-timeout 2 is not dropped for it, and is dropped once
    # it stays idle (or stalls in a body) for the timeout after its last request.
    conn = server.http_connection(timeout=6)
    start = time.monotonic()
    while time.monotonic() - start < 3:
        conn.request("POST", "/upload", body=b"hello")
        r = conn.getresponse()
        assert (r.status, json.loads(r.read())["bytes"]) == (200, 5)
        time.sleep(0.3)
    assert 1.5 < seconds_until_closed_unanswered(conn.sock) < 4  # idle: --header-timeout 2
    conn.close()
    conn = server.http_connection(timeout=6)
    for _ in range(3):
        conn.request("POST", "/upload", body=b"hello")
        r = conn.getresponse()
        assert (r.status, json.loads(r.read())["bytes"]) == (200, 5)
    conn.sock.sendall(b"POST /upload?id=stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nabc")
    assert 1.5 < seconds_until_closed_unanswered(conn.sock) < 4  # stalled body: --body-timeout 2
    conn.close()
    assert wait_for(lambda: "stalled" in ids(server, "aborted"))


def test_app_exception_before_head(server):
    r = httpx.get(server.url + "/raise", verify=server.verify)
    assert r.status_code == 500


def test_app_exception_after_head(server):
    conn = server.http_connection()
    conn.request("GET", "/raise-after")
    r = conn.getresponse()
    assert r.status == 200
    with pytest.raises(http.client.IncompleteRead):
        r.read()  # the body broke off: no last chunk, the connection closed


def test_access_log(server):
    httpx.get(server.url + "/?logged=1", verify=server.verify)
    assert wait_for(lambda: '"GET /?logged=1 HTTP/1.1" 200' in server.log())
