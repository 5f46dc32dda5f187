"""The dashboard's HTTP server, in process, over real sockets: routes, token, query parsing,
and a hostile client corpus (each gets a 4xx or 503, and the server keeps answering)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from edge.hub import Hub, HubLimits
from edge.webserver import (
    BadRequest,
    Dashboard,
    DashboardServer,
    Page,
    ServeConfig,
    ServerLimits,
    is_loopback,
    parse_query,
    parse_seconds,
    resolve_token,
)

TOKEN = "s3cret-token-0123456789"
FAST = ServerLimits(max_connections=12, head_bytes=2048, head_seconds=1.0, write_seconds=2.0)


@contextmanager
def running(token: str | None = None, limits: ServerLimits = FAST,
            hub: Hub | None = None) -> Iterator[DashboardServer]:
    hub = hub or Hub(HubLimits(max_subscribers=3, queue_size=8))
    dash = Dashboard(hub, {"device": "test", "labels": ["angry", "sad"]},
                     lambda: {"listening": True})
    server = DashboardServer(ServeConfig("127.0.0.1", 0, token, limits), dash)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def get(server: DashboardServer, path: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def raw(port: int, data: bytes, wait: float = 5.0, pause: float = 0.0) -> int | None:
    """Send ``data`` (in two halves ``pause`` s apart) and return the response's status code,
    or None when the server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        try:
            if pause:
                s.sendall(data[: len(data) // 2])
                time.sleep(pause)
                s.sendall(data[len(data) // 2:])
            else:
                s.sendall(data)
        except OSError:
            pass
        try:
            head = s.recv(64)
        except OSError:
            return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else None


def rec(t: float) -> dict:
    return {"t": t, "label": "angry", "confidence": 0.8,
            "probabilities": {"angry": 0.8, "sad": 0.2}}


# ---- units ---------------------------------------------------------------------------------
def test_query_parsing() -> None:
    assert parse_query("", ("token",)) == {}
    assert parse_query("seconds=60&token=x", ("token", "seconds")) == {"seconds": "60",
                                                                       "token": "x"}
    for bad in ("seconds=1&seconds=2", "what=1", "seconds", "a=1&b=2&c=3", "token=%ff"):
        with pytest.raises(BadRequest) as e:
            parse_query(bad, ("token", "seconds"))
        assert e.value.status == 400


@pytest.mark.parametrize("text", ["", "abc", "-1", "0", "nan", "inf", "1e3", "601", "1.5.5",
                                  " 60", "60 ", "0x10", "9999999"])
def test_bad_seconds_are_400(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_seconds(text, 600)


def test_good_seconds() -> None:
    assert parse_seconds(None, 600) == 300 and parse_seconds("60", 600) == 60
    assert parse_seconds("0.5", 600) == 0.5 and parse_seconds("600", 600) == 600


def test_token_rules() -> None:
    assert resolve_token("127.0.0.1", None) == (None, False)
    assert resolve_token("::1", None) == (None, False)
    assert resolve_token("localhost", TOKEN) == (TOKEN, False)
    token, generated = resolve_token("0.0.0.0", None)
    assert generated and len(token) >= 24 and token != resolve_token("0.0.0.0", None)[0]
    assert resolve_token("192.168.1.5", TOKEN) == (TOKEN, False)
    for weak in ("short", "has space in it ok", "quote\"inside-0123456789", "é" * 20):
        with pytest.raises(Exception, match="--token"):
            resolve_token("0.0.0.0", weak)
    assert is_loopback("127.0.0.2") and not is_loopback("0.0.0.0") and not is_loopback("::")
    assert not is_loopback("localhost.example.com")


def test_page_is_small_self_contained_and_allowed_only_its_own_script() -> None:
    page = Page.load()
    assert len(page.body) < 20_000
    html = page.body.decode()
    assert "<script>" in html and "<style>" in html and "src=" not in html.replace(
        'href="data:,"', "")
    assert "default-src 'none'" in page.csp and "connect-src 'self'" in page.csp
    assert "unsafe-inline" not in page.csp


# ---- the server ----------------------------------------------------------------------------
def test_routes_state_history_info_events() -> None:
    with running() as server:
        status, body, headers = get(server, "/")
        assert status == 200 and b'id="chart"' in body
        assert headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert json.loads(get(server, "/api/state")[1])["decision"] is None
        for k in range(20):
            server.dashboard.hub.publish(rec(k * 0.5))
        state = json.loads(get(server, "/api/state")[1])
        assert state["decision"]["t"] == 9.5 and state["decisions"] == 20 and state["listening"]
        hist = json.loads(get(server, "/api/history?seconds=2")[1])
        assert [d["t"] for d in hist["decisions"]] == [7.5, 8.0, 8.5, 9.0, 9.5]
        assert json.loads(get(server, "/api/info")[1])["device"] == "test"
        assert get(server, "/", method="HEAD")[:2] == (200, b"")


def test_events_stream_one_decision_per_event() -> None:
    with running() as server:
        got: list[dict] = []
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            deadline = time.monotonic() + 5
            while server.dashboard.hub.subscribers == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            for k in range(3):
                server.dashboard.hub.publish(rec(float(k)))
            buf = b""
            while buf.count(b"data: ") < 3 and time.monotonic() < deadline:
                buf += s.recv(4096)
        assert buf.startswith(b"HTTP/1.0 200") and b"text/event-stream" in buf
        for block in buf.split(b"\n\n"):
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    got.append(json.loads(line[6:]))
        assert [g["t"] for g in got] == [0.0, 1.0, 2.0]


def test_token_is_checked_on_every_request() -> None:
    with running(token=TOKEN) as server:
        for path in ("/", "/api/state", "/api/history", "/api/info", "/events", "/nope"):
            status, _, headers = get(server, path)
            assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), path
            assert get(server, path + "?token=wrong-token-0123456789")[0] == 401
        assert get(server, "/api/state", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert get(server, f"/api/state?token={TOKEN}")[0] == 200
        assert get(server, f"/api/history?seconds=5&token={TOKEN}")[0] == 200
        assert get(server, f"/nope?token={TOKEN}")[0] == 404
        assert get(server, "/api/state", {"Authorization": "Basic eDp5"})[0] == 401


def test_without_a_token_only_loopback_host_names_are_answered() -> None:
    with running() as server:
        port = server.port
        assert raw(port, f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()) == 200
        assert raw(port, f"GET / HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode()) == 200
        assert raw(port, b"GET / HTTP/1.1\r\nHost: attacker.example:80\r\n\r\n") == 421
        assert raw(port, b"GET / HTTP/1.1\r\n\r\n") == 421


#: (name, request bytes, expected status): what a hostile or broken client sends.
HOSTILE: list[tuple[str, bytes, set[int]]] = [
    ("bad method", b"DELETE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {405}),
    ("POST with body", b"POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                       b"\r\nhello", {405}),
    ("GET with body", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n",
     {413}),
    ("chunked body", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n",
     {400}),
    ("bad length", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n", {400}),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n",
     {400}),
    ("HTTP/0.9", b"GET /\r\n\r\n", {400}),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {400}),
    ("huge request line", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n", {414}),
    ("huge header", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"b" * 100_000 + b"\r\n\r\n",
     {431}),
    ("many headers", b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(500))
     + b"\r\n", {431}),
    ("traversal", b"GET /../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {404}),
    ("encoded traversal", b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
     {404}),
    ("static traversal", b"GET /web/../../fsutil.py HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {404}),
    ("absolute form", b"GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {400}),
    ("bad seconds", b"GET /api/history?seconds=1e309 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {400}),
    ("negative seconds", b"GET /api/history?seconds=-5 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
     {400}),
    ("NaN seconds", b"GET /api/history?seconds=NaN HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {400}),
    ("many params", b"GET /api/history?" + b"&".join(b"x%d=1" % i for i in range(2000))
     + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {400, 414}),
    ("bad version", b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", {400}),
    ("null byte", b"GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {400, 404}),
]


@pytest.fixture(scope="module")
def shared() -> Iterator[DashboardServer]:
    with running() as server:
        yield server


@pytest.mark.parametrize(("name", "data", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_requests_get_4xx_and_the_server_goes_on(shared: DashboardServer, name: str,
                                                         data: bytes, expected: set[int]) -> None:
    assert raw(shared.port, data) in expected, name
    assert get(shared, "/api/state")[0] == 200


def test_a_slow_sender_times_out_and_does_not_block_others() -> None:
    with running() as server:
        slow = threading.Thread(target=lambda: out.append(
            raw(server.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", pause=3.0)))
        out: list[int | None] = []
        t0 = time.monotonic()
        slow.start()
        time.sleep(0.2)
        assert get(server, "/api/state")[0] == 200  # meanwhile, others are answered
        slow.join(10)
        assert out == [408] and time.monotonic() - t0 < 5
        # a byte every 0.1 s (each read is quick) still hits the deadline for the whole head
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            def trickle() -> None:
                with contextlib.suppress(OSError):
                    for b in b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" * 3:
                        s.sendall(bytes([b]))
                        time.sleep(0.1)

            t0 = time.monotonic()
            threading.Thread(target=trickle, daemon=True).start()
            assert s.recv(64).startswith(b"HTTP/1.0 408")
            assert time.monotonic() - t0 < 2.5  # head_seconds is 1


def test_connections_are_bounded_with_503_and_slots_come_back() -> None:
    with running() as server:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(12)]
        try:
            time.sleep(0.2)
            assert raw(server.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 503
            assert server.refused >= 1
        finally:
            for s in idle:
                s.close()
        time.sleep(0.3)
        assert get(server, "/api/state")[0] == 200


def test_event_streams_are_bounded_and_the_next_gets_503() -> None:
    with running() as server:
        streams = []
        try:
            for _ in range(3):
                s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                s.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert s.recv(12).startswith(b"HTTP/1.0 200")
                streams.append(s)
            assert raw(server.port, b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 503
            state = json.loads(get(server, "/api/state")[1])
            assert state["clients"]["streams"] == 3 and state["clients"]["refused"] == 1
        finally:
            for s in streams:
                s.close()


def test_a_client_that_stops_reading_is_dropped_and_publishing_never_waits() -> None:
    hub = Hub(HubLimits(max_subscribers=4, queue_size=8))
    with running(hub=hub) as server:
        s = socket.create_connection(("127.0.0.1", server.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        deadline = time.monotonic() + 5
        while hub.subscribers == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        big = {"t": 0.0, "label": "angry", "pad": "x" * 20_000}
        t0 = time.perf_counter()
        worst = 0.0
        for k in range(300):  # 6 MB that nobody reads
            a = time.perf_counter()
            hub.publish({**big, "t": float(k)})
            worst = max(worst, time.perf_counter() - a)
        assert time.perf_counter() - t0 < 3 and worst < 0.2
        deadline = time.monotonic() + 5
        while hub.subscribers and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.subscribers == 0 and hub.dropped_clients == 1
        s.close()
        assert get(server, "/api/state")[0] == 200
