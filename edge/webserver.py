"""The dashboard's HTTP server: standard library only, every resource bounded.

Routes: ``/`` (the page, one self-contained file from ``edge/web``), ``/api/state``,
``/api/history?seconds=N``, ``/api/info`` and ``/events`` (server-sent events: the objects of
``listen --json``, one per decision). Only GET and HEAD, no request bodies, one request per
connection.

Why it cannot stall the listener: decisions reach clients through :class:`edge.hub.Hub`
(bounded queues, a slow client is dropped), and the server bounds what a client can hold:
connections (the next one gets a canned 503 without a thread), event streams (503), the
request head's size (431/414) and the time to send it (408), and a write timeout.

Security: loopback by default; any other address needs a token (``Authorization: Bearer``
or ``?token=``, compared in constant time, 401 without it). Without a token the Host header
must name the loopback address, so a web page elsewhere cannot read the dashboard through
DNS rebinding. The page has a strict Content-Security-Policy (its script and style by hash,
requests to its own origin only) and never serves or stores audio.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import ipaddress
import re
import secrets
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from edge.errors import ConfigError, EdgeSerError
from edge.hub import Hub
from edge.outputs import to_json

TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{16,256}")
LOOPBACK_NAMES = ("localhost",)
DEFAULT_HISTORY_SECONDS = 300.0
KEEPALIVE_SECONDS = 15.0
LINGER_SECONDS, LINGER_BYTES = 0.5, 256 * 1024  # reading what a client sent after its answer
BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 25\r\nRetry-After: 5\r\nConnection: close\r\n\r\n"
        b"503 too many connections\n")


@dataclass(frozen=True)
class ServerLimits:
    """What one client may cost the device."""

    max_connections: int = 48  # open connections, event streams included; the next gets 503
    head_bytes: int = 8192  # request line + headers
    head_seconds: float = 5.0  # to send them (a slow sender gets 408)
    write_seconds: float = 10.0  # a client that stops reading is disconnected after this


@dataclass
class ServeConfig:
    """Where to listen and who may ask (from ``serve --host --port --token``)."""

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    limits: ServerLimits = field(default_factory=ServerLimits)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None) -> tuple[str | None, bool]:
    """The token to require and whether it was generated here: none on loopback unless one is
    given; elsewhere the given one or a fresh one. A weak or odd token is refused."""
    if token is not None and not TOKEN_RE.fullmatch(token):
        raise ConfigError("--token must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ -")
    if token is None and not is_loopback(host):
        return secrets.token_urlsafe(24), True
    return token, False


class BadRequest(Exception):
    """A request this server will not answer (the status and a short reason)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def parse_query(query: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """``a=1&b=2`` → dict; an unknown, repeated or undecodable parameter is a 400."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query),
                          errors="strict", max_num_fields=len(allowed))
    except ValueError as exc:
        raise BadRequest(400, f"bad query: {exc}") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise BadRequest(400, f"unknown query parameter {key[:40]!r}")
        if key in out:
            raise BadRequest(400, f"query parameter {key!r} given twice")
        out[key] = value
    return out


def parse_seconds(text: str | None, limit: float) -> float:
    """``seconds=N`` of ``/api/history``: a plain decimal in (0, limit]; default 300."""
    if text is None:
        return min(DEFAULT_HISTORY_SECONDS, limit)
    if not re.fullmatch(r"\d{1,6}(\.\d{1,3})?", text):
        raise BadRequest(400, "seconds must be a number such as 300")
    seconds = float(text)
    if not 0 < seconds <= limit:
        raise BadRequest(400, f"seconds must be in (0, {limit:g}]")
    return seconds


def token_ok(expected: str, headers: dict[str, str], query: dict[str, str]) -> bool:
    """The request's token (Bearer header or ``?token=``) equals ``expected`` (constant time)."""
    given = query.get("token")
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class Page:
    """The page as served: one HTML document with its style and script inlined, and the
    Content-Security-Policy that allows exactly those two (by hash) and nothing remote."""

    body: bytes
    csp: str

    @classmethod
    def load(cls) -> Page:
        web = resources.files("edge") / "web"
        html = (web / "index.html").read_text(encoding="utf-8")
        style = (web / "dashboard.css").read_text(encoding="utf-8")
        script = (web / "dashboard.js").read_text(encoding="utf-8")
        body = (html.replace("<!--style-->", f"<style>{style}</style>")
                .replace("<!--script-->", f"<script>{script}</script>"))

        def digest(text: str) -> str:
            return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

        csp = (f"default-src 'none'; script-src 'sha256-{digest(script)}'; "
               f"style-src 'sha256-{digest(style)}'; connect-src 'self'; img-src data:; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
        return cls(body.encode("utf-8"), csp)


@dataclass
class Dashboard:
    """What the server shows: the hub's decisions, fixed facts, and live counters."""

    hub: Hub
    info: dict[str, Any]
    status: Callable[[], dict[str, Any]] = dict


class _HeadReader(io.RawIOBase):
    """The socket as read while the request head arrives: a deadline for all of it (a slow
    sender cannot hold a connection by trickling bytes) and a cap on its size."""

    def __init__(self, sock: socket.socket, seconds: float, max_bytes: int) -> None:
        self.sock = sock
        self.deadline = time.monotonic() + seconds
        self.left = max_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request head too slow")
        if self.left <= 0:
            raise _HeadTooLarge
        self.sock.settimeout(remaining)
        view = memoryview(buffer)[: self.left]
        n = self.sock.recv_into(view)
        self.left -= n
        return n


class _HeadTooLarge(Exception):
    pass


MAX_HEADERS = 64
HEADER_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True)
class Request:
    """A request head: method, target, and headers by lower-case name."""

    method: str
    target: str
    headers: dict[str, str]


def read_head(rfile: io.BufferedReader, max_bytes: int) -> Request:
    """Parse a request head (HTTP/1.0 or 1.1) from ``rfile``, or raise BadRequest. The reader
    itself bounds its size and time (:class:`_HeadReader`)."""
    line = rfile.readline(max_bytes + 1)
    if not line:
        raise ConnectionAbortedError  # connected and left without a word
    if len(line) > max_bytes or not line.endswith(b"\n"):
        raise BadRequest(414, "request line too long")
    words = line.split()
    if len(words) != 3 or words[2] not in (b"HTTP/1.0", b"HTTP/1.1"):
        raise BadRequest(400, "only HTTP/1.0 and HTTP/1.1 are spoken here")
    method, target = words[0].decode("latin-1"), words[1].decode("latin-1")
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        raw = rfile.readline(max_bytes + 1)
        if raw in (b"\r\n", b"\n"):
            return Request(method, target, headers)
        if not raw.endswith(b"\n"):
            raise BadRequest(400, "request head cut short")
        name, colon, value = raw.partition(b":")
        if not colon or not HEADER_NAME.fullmatch(name):  # also obs-fold (leading space)
            raise BadRequest(400, "malformed header line")
        key = name.decode("ascii").lower()
        if key in headers and key in ("host", "content-length", "authorization"):
            raise BadRequest(400, f"header {key} given twice")
        headers[key] = value.strip().decode("latin-1")
    raise BadRequest(431, "too many header lines")


class Handler(socketserver.BaseRequestHandler):
    """One request per connection; see the module docstring for the rules."""

    server: DashboardServer
    request: socket.socket

    def handle(self) -> None:
        limits = self.server.config.limits
        self.method = ""
        rfile = io.BufferedReader(
            _HeadReader(self.request, limits.head_seconds, limits.head_bytes + 1), 1024)
        try:
            self.req = read_head(rfile, limits.head_bytes)
            self.method = self.req.method
            self.request.settimeout(limits.write_seconds)
            self._answer()
        except _HeadTooLarge:
            self._fail(431, "request head too large")
        except TimeoutError:
            self._fail(408, "request timeout")
        except BadRequest as exc:
            self._fail(exc.status, str(exc))
        except OSError:
            pass  # the client went away

    def finish(self) -> None:
        """Close gently: what the client still sends is read (briefly, boundedly) so that the
        kernel does not reset the connection and throw away the answer before it is read."""
        try:
            self.request.shutdown(socket.SHUT_WR)
            self.request.settimeout(LINGER_SECONDS)
            left = LINGER_BYTES
            while left > 0 and (n := len(self.request.recv(min(left, 16384)))):
                left -= n
        except OSError:
            pass

    def _fail(self, status: int, reason: str) -> None:
        with contextlib.suppress(OSError):
            self.request.settimeout(1.0)
            self.error(status, reason)

    # ---- routing -------------------------------------------------------------------------
    def _answer(self) -> None:
        config, req = self.server.config, self.req
        if req.method not in ("GET", "HEAD"):
            self.error(405, headers={"Allow": "GET, HEAD"})
            return
        if "transfer-encoding" in req.headers:
            raise BadRequest(400, "request bodies are not accepted")
        length = req.headers.get("content-length", "0")
        if not length.isdigit():
            raise BadRequest(400, "bad Content-Length")
        if int(length) > 0:
            raise BadRequest(413, "request bodies are not accepted")
        if not req.target.startswith("/"):
            raise BadRequest(400, "bad request target")
        parts = urlsplit(req.target)
        path = parts.path
        allowed = ("token", "seconds") if path == "/api/history" else ("token",)
        query = parse_query(parts.query, allowed)
        if config.token is not None:
            if not token_ok(config.token, req.headers, query):
                self.error(401, headers={"WWW-Authenticate": 'Bearer realm="edge-ser"'})
                return
        elif not is_loopback(host_name(req.headers.get("host", ""))):
            raise BadRequest(421, "this dashboard answers to its loopback address only")
        dashboard = self.server.dashboard
        if path in ("/", "/index.html"):
            page = self.server.page
            self.send(200, page.body, "text/html; charset=utf-8",
                      {"Content-Security-Policy": page.csp})
        elif path == "/api/state":
            self.send_json(self.server.state())
        elif path == "/api/history":
            seconds = parse_seconds(query.get("seconds"), dashboard.hub.limits.history_seconds)
            entries = dashboard.hub.history(seconds)
            self.send_json({"seconds": seconds, "decisions": [e.record for e in entries]})
        elif path == "/api/info":
            self.send_json(dashboard.info)
        elif path == "/events":
            self._events()
        else:
            self.error(404)

    # ---- responses -----------------------------------------------------------------------
    def head(self, status: int, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.0 {status} {HTTPStatus(status).phrase}", "Server: edge-ser",
                 "Connection: close", "Cache-Control: no-store",
                 "X-Content-Type-Options: nosniff", "Referrer-Policy: no-referrer",
                 "Cross-Origin-Resource-Policy: same-origin",
                 *(f"{k}: {v}" for k, v in headers.items())]
        self.request.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send(self, status: int, body: bytes, content_type: str,
             headers: dict[str, str] | None = None) -> None:
        self.head(status, {"Content-Type": content_type, "Content-Length": str(len(body)),
                           **(headers or {})})
        if self.method != "HEAD":
            self.request.sendall(body)

    def send_json(self, obj: Any) -> None:
        self.send(200, to_json(obj).encode("utf-8"), "application/json")

    def error(self, status: int, reason: str | None = None,
              headers: dict[str, str] | None = None) -> None:
        text = f"{status} {reason or HTTPStatus(status).phrase}\n"
        self.send(status, text.encode("utf-8", "replace"), "text/plain; charset=utf-8", headers)

    def _events(self) -> None:
        sub = self.server.dashboard.hub.subscribe()
        if sub is None:
            self.error(503, "too many event streams", headers={"Retry-After": "10"})
            return
        try:
            self.head(200, {"Content-Type": "text/event-stream; charset=utf-8",
                            "X-Accel-Buffering": "no"})
            if self.method == "HEAD":
                return
            self.request.sendall(b"retry: 3000\n\n")
            while True:
                try:
                    entry = sub.get(KEEPALIVE_SECONDS)
                except TimeoutError:
                    self.request.sendall(b": keepalive\n\n")
                    continue
                if entry is None:
                    return
                self.request.sendall(f"id: {entry.seq}\ndata: {entry.text}\n\n".encode())
        except OSError:
            return  # the client went away or stopped reading (write timeout)
        finally:
            sub.close()


def host_name(host: str) -> str:
    """The name in a Host header, without its port (``[::1]:80`` → ``[::1]``)."""
    return host if host.endswith("]") else host.rsplit(":", 1)[0]


class DashboardServer(socketserver.ThreadingTCPServer):
    """A thread per connection, at most ``max_connections`` of them."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 32

    def __init__(self, config: ServeConfig, dashboard: Dashboard) -> None:
        self.config = config
        self.dashboard = dashboard
        self.page = Page.load()
        self.refused = 0  # connections turned away with 503 (too many at once)
        self._slots = threading.BoundedSemaphore(config.limits.max_connections)
        host = config.host.strip("[]")
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            super().__init__((host, config.port), Handler)
        except OSError as exc:
            raise EdgeSerError(f"cannot listen on {config.host}:{config.port}: "
                               f"{exc.strerror or exc}") from None
        self.port = self.server_address[1]
        self._thread: threading.Thread | None = None

    def state(self) -> dict[str, Any]:
        """``/api/state``: the latest decision and the live counters."""
        hub = self.dashboard.hub
        latest = hub.latest()
        return {"decision": latest.record if latest else None, "decisions": hub.published,
                **self.dashboard.status(),
                "clients": {"streams": hub.subscribers, "max_streams": hub.limits.max_subscribers,
                            "dropped": hub.dropped_clients, "refused": hub.refused_clients,
                            "refused_connections": self.refused}}

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            try:
                request.setblocking(False)
                request.send(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a broken client is the client's problem; the listener goes on

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.dashboard.hub.close()  # ends every event stream
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
        self.server_close()

    def url(self, token: str | None = None) -> str:
        host = self.config.host
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"http://{host}:{self.port}/" + (f"?token={token}" if token else "")
