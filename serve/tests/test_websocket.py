"""ASGI WebSocket sessions under the real server, with a real client (the `websockets`
package): handshakes, messages both ways (exact bytes, every one counted), closes from either
side with their codes, refusals, protocol errors on a raw socket, limits, and a FastAPI app
answering as under uvicorn."""

import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from contextlib import ExitStack

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import TESTS, Server, listening, read_until_closed, wait_for

MAX_SIZE = 1 << 20


@pytest.fixture(scope="module")
def ws_server(tmp_module):
    srv = Server("ws_apps:app", interface="asgi", tmp=tmp_module,
                 args=["--buffer-size", "64K", "--ws-max-size", str(MAX_SIZE),
                       "--body-timeout", "2"])
    yield srv
    assert srv.stop() == 0, srv.log()


def ws_url(server, path):
    return server.url.replace("http://", "ws://") + path


def seen(server, path):
    return [e for e in httpx.get(server.url + "/seen").json() if e["path"] == path]


def test_messages_are_echoed_exactly(ws_server):
    with connect(ws_url(ws_server, "/echo?a=%20b"), max_size=None) as ws:
        sizes = [0, 1, 125, 126, 65535, 65536, 100_000, MAX_SIZE]
        for n in sizes:
            data = os.urandom(n)
            ws.send(data)
            assert ws.recv() == data
        text = "héllo wörld ✓" * 1000
        ws.send(text)
        assert ws.recv() == text
        for i in range(500):  # many small messages, in order
            ws.send(f"m{i}")
        assert [ws.recv() for _ in range(500)] == [f"m{i}" for i in range(500)]
    scope = seen(ws_server, "/echo")[0]["scope"]
    assert scope == {"scheme": "ws", "path": "/echo", "raw_path": "/echo",
                     "query_string": "a=%20b", "subprotocols": [], "http_version": "1.1",
                     "root_path": ""}


def test_a_fragmented_message_arrives_whole(ws_server):
    with connect(ws_url(ws_server, "/echo"), max_size=None) as ws:
        ws.send([b"ab", b"", b"cd" * 70_000, b"e"])  # a message in four frames
        assert ws.recv() == b"ab" + b"cd" * 70_000 + b"e"
        ws.send(["é", "t", "é"])
        assert ws.recv() == "été"


def test_subprotocol_and_headers_of_the_accept(ws_server):
    with connect(ws_url(ws_server, "/echo"), subprotocols=["x", "chat"]) as ws:
        assert ws.subprotocol == "chat"
        assert ws.response.headers["x-ws"] == "yes"
        assert ws.response.status_code == 101
    scopes = [e["scope"] for e in seen(ws_server, "/echo") if "scope" in e]
    assert scopes[-1]["subprotocols"] == ["x", "chat"]


def test_the_app_closes_with_its_code_and_reason(ws_server):
    with connect(ws_url(ws_server, "/echo")) as ws:
        ws.send("close 4000 see you")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "see you")
    # The client's answer to that close reached the app as its disconnect.
    after = wait_for(lambda: [e for e in seen(ws_server, "/echo") if "after_close" in e])
    assert after[-1]["after_close"] == {"type": "websocket.disconnect", "code": 4000,
                                        "reason": "see you"}


def test_the_client_closes_with_its_code_and_reason(ws_server):
    before = len(seen(ws_server, "/echo"))
    with connect(ws_url(ws_server, "/echo")) as ws:
        ws.send("x")
        assert ws.recv() == "x"
        ws.close(4001, "done here")
        assert (ws.close_code, ws.close_reason) == (4001, "")  # the server echoes the code
    closes = wait_for(lambda: [e for e in seen(ws_server, "/echo")[before:] if "code" in e])
    assert closes == [{"path": "/echo", "code": 4001, "reason": "done here"}]


def test_a_client_that_drops_is_1006_and_sends_after_a_close_raise(ws_server):
    with connect(ws_url(ws_server, "/echo")) as ws:
        ws.send("x")
        assert ws.recv() == "x"
        before = len(seen(ws_server, "/echo"))
        ws.socket.shutdown(socket.SHUT_RDWR)  # gone without a close frame
    closes = wait_for(lambda: [e for e in seen(ws_server, "/echo")[before:] if "code" in e])
    assert closes == [{"path": "/echo", "code": 1006, "reason": ""}]
    with connect(ws_url(ws_server, "/send-after-close")) as ws:
        ws.close()
    raised = wait_for(lambda: [e for e in seen(ws_server, "/send-after-close") if "raised" in e])
    assert raised == [{"path": "/send-after-close", "raised": "BrokenPipeError",
                       "oserror": True}]


@pytest.mark.parametrize("path, status", [("/refuse", 403), ("/return", 403), ("/raise", 500)])
def test_a_refused_handshake_is_an_http_answer(ws_server, path, status):
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(ws_server, path))
    assert refused.value.response.status_code == status


def test_ends_of_an_accepted_session(ws_server):
    with connect(ws_url(ws_server, "/hello")) as ws:
        assert ws.recv() == "hello"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd.code == 1000  # returned without a close
    with connect(ws_url(ws_server, "/raise-after-accept")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd.code == 1011  # raised


def test_a_message_over_the_limit_closes_1009(ws_server):
    with connect(ws_url(ws_server, "/echo"), max_size=None) as ws:
        ws.send(b"x" * MAX_SIZE)
        assert len(ws.recv()) == MAX_SIZE
        ws.send(b"x" * (MAX_SIZE + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd.code == 1009


def test_ping_is_answered(ws_server):
    with connect(ws_url(ws_server, "/echo")) as ws:
        assert ws.ping(b"are you there").wait(5)


def test_large_streams_both_ways_count_every_byte(ws_server):
    # 40 MiB from the app in 256 KiB messages through a 64 KiB response buffer.
    with connect(ws_url(ws_server, "/stream?160&262144"), max_size=None) as ws:
        block = bytes(i % 251 for i in range(262144))
        got = 0
        for _ in range(160):
            assert ws.recv() == block
            got += 1
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert (got, closed.value.rcvd.code) == (160, 1000)
    # 2,000 messages of 10 KiB to an app that reads nothing for 0.5 s: all arrive.
    with connect(ws_url(ws_server, "/slow")) as ws:
        for _ in range(2000):
            ws.send(b"y" * 10240)
        acks = [ws.recv() for _ in range(20)]
        assert acks[-1] == str(2000 * 10240)
    counts = wait_for(lambda: seen(ws_server, "/slow")[1:])
    assert counts[-1] == {"path": "/slow", "count": 2000, "total": 2000 * 10240}


def test_sessions_are_served_by_every_node(tmp_module):
    srv = Server("ws_apps:app", interface="asgi", tmp=tmp_module, args=["--nodes", "2"])
    try:
        with ExitStack() as stack:
            sessions = [stack.enter_context(connect(ws_url(srv, "/pid"), max_size=None))
                        for _ in range(4)]
            pids = [int(ws.recv()) for ws in sessions]
            for i, ws in enumerate(sessions):
                data = bytes([i]) * (300_000 + i)
                ws.send(data)
                ws.send(f"t{i}")
                assert (ws.recv(), ws.recv()) == (data, f"t{i}")
        assert len(set(pids)) == 2 and srv.beam_pid in pids
    finally:
        assert srv.stop() == 0, srv.log()


def test_a_shutdown_closes_open_sessions_with_1012(tmp_module):
    srv = Server("ws_apps:app", interface="asgi", tmp=tmp_module,
                 args=["--graceful-timeout", "60"])
    with connect(ws_url(srv, "/echo")) as ws, connect(ws_url(srv, "/pid")) as idle:
        ws.send("x")
        assert ws.recv() == "x"
        assert int(idle.recv()) == srv.beam_pid
        srv.proc.send_signal(signal.SIGTERM)
        for session in (ws, idle):
            with pytest.raises(ConnectionClosed) as closed:
                session.recv(timeout=30)
            assert closed.value.rcvd.code == 1012
        # Stopped well within the grace period (60 s): the sessions did not hold it.
        assert srv.proc.wait(30) == 0, srv.log()


def test_sessions_that_end_every_way_leave_nothing_behind(ws_server):
    # 60 sessions open at once, then a third closed properly, a third dropped (no close
    # frame) while the app streams to them, a third refused: nothing stays in flight and
    # every buffer is freed.
    def stats():
        return httpx.get(ws_server.url + "/.py-buffer-serve/stats").json()

    with ExitStack() as stack:
        closing = [stack.enter_context(connect(ws_url(ws_server, "/echo"))) for _ in range(20)]
        dropping = [handshake(ws_server, path="/stream?100000&4096")[0] for _ in range(20)]
        for sock in dropping:
            assert read_frame(sock)[0] == 2  # the stream runs
        for _ in range(20):
            with pytest.raises(InvalidStatus):
                connect(ws_url(ws_server, "/refuse"))
        assert stats()["in_flight"] == 40  # sessions count as requests (the stats' does not)
        for ws in closing:
            ws.send("bye")
            assert ws.recv() == "bye"
            ws.close()
        for sock in dropping:
            sock.close()
    settled = wait_for(lambda: (lambda st: st if st["in_flight"] == 0 and st["live_buffers"] == 0
                                else None)(stats()), timeout=10)
    assert settled, stats()


# ---- the handshake and frames on a raw socket ------------------------------------------------

KEY = base64.b64encode(b"0123456789abcdef").decode()


def handshake(server, path="/echo", extra="", version="13", key=KEY, then=b""):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    lines = [f"GET {path} HTTP/1.1", "Host: x", "Upgrade: WebSocket",
             "Connection: keep-alive, Upgrade"]
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    sock.sendall(("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode() + then)
    head = b""
    while b"\r\n\r\n" not in head:
        got = sock.recv(1)
        if not got:
            break
        head += got
    return sock, head.decode("latin-1")


def client_frame(opcode, payload, fin=True, mask=b"\x01\x02\x03\x04", rsv=0):
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    if mask is None:
        return bytes([head[0], head[1] & 0x7F]) + head[2:] + payload
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        got = sock.recv(n - len(data))
        if not got:
            break
        data += got
    return data


def server_frames(sock):
    """The frames the server sends until it closes the connection."""
    data = read_until_closed(sock)
    frames = []
    while data:
        first, second = data[0], data[1]
        n, at = second & 0x7F, 2
        if n == 126:
            n, at = struct.unpack("!H", data[2:4])[0], 4
        elif n == 127:
            n, at = struct.unpack("!Q", data[2:10])[0], 10
        frames.append((first & 0x0F, data[at:at + n]))
        data = data[at + n:]
    return frames


def test_the_handshake_answer_is_rfc_6455s(ws_server):
    # The RFC's own example (§1.3): this key is answered with this accept value.
    sock, head = handshake(ws_server, key="dGhlIHNhbXBsZSBub25jZQ==")
    assert head.startswith("HTTP/1.1 101 Switching Protocols\r\n")
    fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if line)
    assert fields["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert fields["upgrade"] == "websocket" and fields["connection"] == "Upgrade"
    sock.sendall(client_frame(1, b"hi"))
    assert recv_exactly(sock, 4) == b"\x81\x02hi"  # final, text, unmasked, 2 bytes
    sock.sendall(client_frame(8, struct.pack("!H", 1000) + b"bye"))
    assert server_frames(sock) == [(8, struct.pack("!H", 1000))]  # the code echoed


def test_frames_sent_with_the_handshake_are_read(ws_server):
    # In one segment with the head (a client must wait for the 101, but bytes already read
    # with the head are not lost), and behind a request whose body was read ahead.
    sock, head = handshake(ws_server, then=client_frame(1, b"early"))
    assert head.startswith("HTTP/1.1 101 ")
    assert recv_exactly(sock, 7) == b"\x81\x05early"
    sock.sendall(client_frame(8, b""))
    assert server_frames(sock) == [(8, b"")]
    sock = socket.create_connection(("127.0.0.1", ws_server.port), timeout=5)
    upgrade = (f"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Key: {KEY}\r\n\r\n").encode()
    sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" + upgrade
                 + client_frame(2, b"\x00\x01"))
    out = b""
    while not out.endswith(b"\x82\x02\x00\x01"):
        got = sock.recv(65536)
        assert got, out
        out += got
    assert out.startswith(b"HTTP/1.1 200 ") and b"plain /x" in out and b"HTTP/1.1 101 " in out
    sock.sendall(client_frame(8, b""))
    assert server_frames(sock) == [(8, b"")]


def test_many_small_frames_in_one_read_all_reach_a_busy_app(ws_server):
    # 30,000 one-byte messages in one burst to an app that reads nothing for 0.5 s: they wait
    # (in order, none lost) behind a full body buffer, then all arrive.
    before = len(seen(ws_server, "/slow"))
    sock, head = handshake(ws_server, path="/slow")
    assert head.startswith("HTTP/1.1 101 ")
    sock.sendall(b"".join(client_frame(2, b"z") for _ in range(30_000)))
    acks = []
    while len(acks) < 300:  # the app's running total every 100 messages
        opcode, payload = read_frame(sock)
        assert opcode == 1
        acks.append(int(payload))
    assert acks == list(range(100, 30_001, 100))
    sock.sendall(client_frame(8, b""))
    assert server_frames(sock) == [(8, b"")]
    counts = wait_for(lambda: seen(ws_server, "/slow")[before:][1:])
    assert counts == [{"path": "/slow", "count": 30_000, "total": 30_000}]


def test_bad_handshakes_are_answered_and_closed(ws_server):
    sock, head = handshake(ws_server, version="8")
    assert head.startswith("HTTP/1.1 426 ") and "sec-websocket-version: 13\r\n" in head
    for key in (None, "c2hvcnQ=", "not base64 at all!!!!!!!"):
        sock, head = handshake(ws_server, key=key)
        assert head.startswith("HTTP/1.1 400 "), (key, head)


@pytest.mark.parametrize("frames, code", [
    ([client_frame(1, b"x", mask=None)], 1002),                       # unmasked
    ([client_frame(1, b"x", rsv=0x40)], 1002),                        # RSV1 without extension
    ([client_frame(3, b"x")], 1002),                                  # reserved opcode
    ([client_frame(0, b"x")], 1002),                                  # continuation first
    ([client_frame(1, b"a", fin=False), client_frame(1, b"b")], 1002),  # data inside a message
    ([client_frame(9, b"p" * 126)], 1002),                            # control frame too long
    ([client_frame(1, b"\xed\xa0\x80")], 1007),                       # a surrogate: not UTF-8
    ([client_frame(8, struct.pack("!H", 1005))], 1002),               # a code no one may send
])
def test_protocol_errors_close_with_their_code(ws_server, frames, code):
    sock, head = handshake(ws_server)
    assert head.startswith("HTTP/1.1 101 ")
    sock.sendall(b"".join(frames))
    assert server_frames(sock)[-1] == (8, struct.pack("!H", code))


def test_an_upgrade_to_a_wsgi_app_is_a_plain_request(tmp_module):
    srv = Server("serve_apps:wsgi", interface="wsgi", tmp=tmp_module)
    try:
        sock, head = handshake(srv, path="/pid")
        assert head.startswith("HTTP/1.1 200 "), head
    finally:
        assert srv.stop() == 0, srv.log()


def read_frame(sock):
    """One frame from the server: (opcode, payload)."""
    first, second = recv_exactly(sock, 2)
    n = second & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exactly(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exactly(sock, 8))[0]
    return first & 0x0F, recv_exactly(sock, n)


def test_pings_keep_a_session_and_an_unanswered_one_ends_it(tmp_module):
    srv = Server("ws_apps:app", interface="asgi", tmp=tmp_module,
                 args=["--ws-ping-interval", "0.1", "--ws-ping-timeout", "0.3"])
    try:
        sock, head = handshake(srv)
        assert head.startswith("HTTP/1.1 101 ")
        payloads = []
        for _ in range(3):  # answered: the session stays
            opcode, payload = read_frame(sock)
            assert opcode == 9 and len(payload) == 4
            payloads.append(payload)
            sock.sendall(client_frame(10, payload))
        assert len(set(payloads)) == 3
        sock.sendall(client_frame(1, b"still here"))
        frame = read_frame(sock)
        while frame[0] == 9:  # a ping may come first
            sock.sendall(client_frame(10, frame[1]))
            frame = read_frame(sock)
        assert frame == (1, b"still here")
        # No more pongs: the next ping's timeout closes with 1011, for the app too.
        frames = server_frames(sock)
        assert frames[-1] == (8, struct.pack("!H", 1011))
        assert {opcode for opcode, _ in frames[:-1]} <= {9}
        closes = wait_for(lambda: [e for e in seen(srv, "/echo") if "code" in e])
        assert closes == [{"path": "/echo", "code": 1011, "reason": ""}]
    finally:
        assert srv.stop() == 0, srv.log()


# ---- a framework, against uvicorn ------------------------------------------------------------

def fastapi_session(url):
    out = []
    with connect(url + "/upper/ann") as ws:
        out.append(ws.recv())
        for text in ("abc", "été", ""):
            ws.send(text)
            out.append(json.loads(ws.recv()))
        ws.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        out.append((closed.value.rcvd.code, closed.value.rcvd.reason))
    for path in ("/nowhere", "/deny", "/denial"):
        with pytest.raises(InvalidStatus) as refused:
            connect(url + path)
        response = refused.value.response
        out.append((response.status_code, response.reason_phrase, response.body,
                    sorted((k.lower(), v) for k, v in response.headers.raw_items()
                           if k.lower() not in ("date", "server"))))
    return out


def test_a_fastapi_app_answers_as_under_uvicorn(tmp_module):
    srv = Server("ws_apps:fastapi_app", interface="asgi", tmp=tmp_module)
    try:
        ours = fastapi_session(ws_url(srv, ""))
    finally:
        assert srv.stop() == 0, srv.log()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uvicorn = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", TESTS, "--port", str(port),
         "--ws", "websockets", "--log-level", "warning", "ws_apps:fastapi_app"])
    try:
        assert wait_for(lambda: listening(port), timeout=30)
        theirs = fastapi_session(f"ws://127.0.0.1:{port}")
    finally:
        uvicorn.terminate()
        uvicorn.wait(30)
    assert ours == theirs
    assert ours[:5] == ["hi ann", {"upper": "ABC", "len": 3}, {"upper": "ÉTÉ", "len": 3},
                        {"upper": "", "len": 0}, (4001, "bye")]
    # Refused: no route (403), an HTTPException (401 with its JSON, through the
    # websocket.http.response extension), Starlette's send_denial_response (418, its header).
    assert [(status, body) for status, _, body, _ in ours[5:]] == [
        (403, b""), (401, b'{"detail":"who are you"}'), (418, b"go away")]
    assert ("x-why", "tea") in ours[7][3]
