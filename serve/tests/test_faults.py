"""py-buffer-serve under faults (issue 11, item 4): many clients leaving mid-upload, many
trickling bodies, a slow downloader of 1 GiB, SIGTERM with requests in flight."""

import concurrent.futures
import functools
import os
import signal
import socket
import threading
import time

import httpx
import pytest

import conftest
from conftest import Server, events

# This module's waits allow 10 s (hundreds of connections on a loaded machine).
wait_for = functools.partial(conftest.wait_for, timeout=10.0)


@pytest.fixture(params=["wsgi", "asgi"])
def fault_server(request, tmp_path):
    srv = Server(f"serve_apps:{request.param}", interface=request.param, tmp=str(tmp_path),
                 args=["--workers", "256", "--body-timeout", "1", "--buffer-size", "64K",
                       "--log-level", "warning"],
                 env={"SERVE_TEST_SHUTDOWN_MARK": str(tmp_path / "shutdown")})
    srv.interface = request.param
    srv.tmp = tmp_path
    yield srv
    srv.stop()


def stats(srv):
    return httpx.get(srv.url + "/.py-buffer-serve/stats").json()


def refuses(srv):
    """Whether the listening socket is gone (a connection is refused). A connect that is reset
    before it completes met the listener as it closed (the kernel resets the handshakes it
    held): gone too; a server that still accepts completes the connect."""
    try:
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


def active(srv):
    return httpx.get(srv.url + "/active").json()[srv.interface]


def test_100_clients_leave_mid_upload(fault_server):
    srv = fault_server
    socks = []
    for i in range(100):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /upload?id=c%d HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n\r\n"
                  % i + b"u" * 262144)
        socks.append(s)
    assert wait_for(lambda: active(srv) == 100), active(srv)
    closed = {}
    for i, s in enumerate(socks):
        closed[f"c{i}"] = time.monotonic()
        s.close()
    aborted = wait_for(lambda: [e for e in events(srv) if e["kind"] == "aborted"]
                       if len([e for e in events(srv) if e["kind"] == "aborted"]) >= 100
                       else None)
    assert aborted and {e["id"] for e in aborted} == set(closed)
    lags = [e["t"] - closed[e["id"]] for e in aborted]
    assert max(lags) < 0.1, sorted(lags)[-5:]
    # No worker left blocked, every buffer freed.
    assert wait_for(lambda: active(srv) == 0)
    final = wait_for(lambda: (lambda st: st if st["in_flight"] == 0 and st["live_buffers"] == 0
                              and st["python_idle"] >= st["python_threads"] - 2
                              else None)(stats(srv)))
    # (a thread or two may still be on their way back from the last /active or stats calls)
    assert final, stats(srv)
    assert final["python_stuck"] == 0


def test_live_buffers_back_to_zero_after_aborts(fault_server):
    srv = fault_server
    for i in range(10):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
                  + b"u" * 100_000)
        time.sleep(0.05)
        s.close()
    assert wait_for(lambda: stats(srv)["live_buffers"] == 0, timeout=3), stats(srv)


def test_200_trickling_bodies_time_out_while_others_are_served(fault_server):
    srv = fault_server
    stop = threading.Event()
    socks = []
    for i in range(200):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /upload?id=t%d HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
                  % i)
        socks.append(s)

    def trickle():
        while not stop.is_set():
            for s in socks:
                try:
                    s.send(b"t")
                except OSError:
                    pass
            time.sleep(0.2)

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    start = time.monotonic()
    latencies = []
    with httpx.Client() as client:
        while time.monotonic() - start < 2.5:
            t0 = time.monotonic()
            r = client.post(srv.url + "/upload", content=b"n" * 100_000)
            assert r.status_code == 200 and r.json()["bytes"] == 100_000
            latencies.append(time.monotonic() - t0)
    stop.set()
    t.join()
    assert len(latencies) > 20 and max(latencies) < 0.5, (len(latencies), max(latencies))
    aborted = wait_for(lambda: (lambda ev: ev if len(ev) >= 200 else None)(
        [e for e in events(srv) if e["kind"] == "aborted" and e["id"].startswith("t")]))
    assert aborted and len(aborted) == 200
    for s in socks:
        s.settimeout(2)
        try:
            assert s.recv(100) == b""  # the server closed it
        except ConnectionResetError:
            pass
        s.close()
    assert wait_for(lambda: (lambda st: st["in_flight"] == 0 and st["live_buffers"] == 0)(
        stats(srv))), stats(srv)


def test_slow_downloader_of_1gib_bounded_memory(fault_server):
    srv = fault_server
    size = 1 << 30
    with srv.rss_growth() as growth:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.connect(("127.0.0.1", srv.port))
        s.sendall(b"GET /download?size=%d&length=1 HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        got = 0
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(65536)
        got = len(head.split(b"\r\n\r\n", 1)[1])
        while got < size:
            data = s.recv(1 << 20)
            assert data
            got += len(data)
            if got % (4 << 20) < len(data):
                time.sleep(0.004)  # a slow reader: ~1 GB/s at most, in bursts
        s.close()
    assert got == size
    assert growth.peak < 64 << 20, growth.peak


def test_sigterm_or_ctrl_c_with_requests_in_flight(fault_server):
    srv = fault_server
    sig = signal.SIGTERM if srv.interface == "wsgi" else signal.SIGINT  # Ctrl-C
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(httpx.get, srv.url + "/sleep?s=1.5", timeout=10)
                   for _ in range(5)]
        assert wait_for(lambda: stats(srv)["in_flight"] == 5), stats(srv)
        sent = time.monotonic()
        srv.proc.send_signal(sig)
        assert wait_for(lambda: refuses(srv)), "still accepting connections after the signal"
        assert [f.result().status_code for f in futures] == [200] * 5
    assert srv.proc.wait(30) == 0
    assert time.monotonic() - sent < 10
    if srv.interface == "asgi":
        assert (srv.tmp / "shutdown").read_text() == "shutdown\n"


def test_sigterm_waits_for_work_after_the_response(fault_server):
    # uvicorn runs an app's work after its response (Starlette's background tasks) to its
    # end before the lifespan shutdown; so does the graceful stop here, within the grace
    # period. WSGI: the request ends with its app call (nothing runs after it).
    srv = fault_server
    if srv.interface != "asgi":
        pytest.skip("ASGI only: a WSGI app's work ends with its call")
    r = httpx.get(srv.url + "/after-response?s=1", timeout=10)
    assert (r.status_code, r.content) == (200, b"answered\n")
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(30) == 0
    assert (srv.tmp / "shutdown").read_text() == "after-response done\nshutdown\n"
