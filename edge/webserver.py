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
import hashlib
import hmac
import http.server
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


def token_ok(expected: str, headers: Any, query: dict[str, str]) -> bool:
    """The request's token (Bearer header or ``?token=``) equals ``expected`` (constant time)."""
    given = query.get("token")
    auth = headers.get("Authorization", "")
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


class Handler(http.server.BaseHTTPRequestHandler):
    """One request per connection; see the module docstring for the rules."""

    server: DashboardServer
    error_message_format = "%(code)d %(message)s\n"
    error_content_type = "text/plain; charset=utf-8"
    protocol_version = "HTTP/1.0"
    default_request_version = "HTTP/1.0"  # errors before the version is read get headers too

    def setup(self) -> None:
        super().setup()
        limits = self.server.config.limits
        self.rfile.close()  # read through the deadline instead; +1: one byte over is refused
        self.rfile = io.BufferedReader(
            _HeadReader(self.connection, limits.head_seconds, limits.head_bytes + 1), 1024)

    def handle(self) -> None:
        self.close_connection = True
        self.command, self.request_version, self.requestline = "", "HTTP/1.0", ""
        limits = self.server.config.limits
        try:
            line = self.rfile.readline(limits.head_bytes + 1)
            if not line:
                return
            if len(line) > limits.head_bytes or not line.endswith(b"\n"):
                self.send_error(414)
                return
            words = line.split()
            if len(words) != 3 or words[2] not in (b"HTTP/1.0", b"HTTP/1.1"):
                self.send_error(400, "only HTTP/1.0 and HTTP/1.1 are spoken here")
                return
            self.raw_requestline = line
            if not self.parse_request():  # it has answered 400 or 431
                return
            self.connection.settimeout(limits.write_seconds)
            self._answer()
        except _HeadTooLarge:
            self._fail(431, "request head too large")
        except TimeoutError:
            self._fail(408, "request timeout")
        except BadRequest as exc:
            self._fail(exc.status, str(exc))
        except (ConnectionError, OSError):
            pass  # the client went away

    def finish(self) -> None:
        """Close gently: what the client still sends is read (briefly, boundedly) so that the
        kernel does not reset the connection and throw away the answer before it is read."""
        super().finish()
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            left = LINGER_BYTES
            while left > 0 and (n := len(self.connection.recv(min(left, 16384)))):
                left -= n
        except OSError:
            pass

    def _fail(self, status: int, reason: str) -> None:
        try:
            self.connection.settimeout(1.0)
            self.send_error(status, reason)
        except OSError:
            pass

    # ---- routing -------------------------------------------------------------------------
    def _answer(self) -> None:
        config = self.server.config
        if self.command not in ("GET", "HEAD"):
            self.send_error(405, headers={"Allow": "GET, HEAD"})
            return
        if self.headers.get("Transfer-Encoding") is not None:
            raise BadRequest(400, "request bodies are not accepted")
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isdigit():
            raise BadRequest(400, "bad Content-Length")
        if int(length) > 0:
            raise BadRequest(413, "request bodies are not accepted")
        if not self.path.startswith("/"):
            raise BadRequest(400, "bad request target")
        parts = urlsplit(self.path)
        path = parts.path
        allowed = ("token", "seconds") if path == "/api/history" else ("token",)
        query = parse_query(parts.query, allowed)
        if config.token is not None:
            if not token_ok(config.token, self.headers, query):
                self.send_error(401, headers={"WWW-Authenticate": 'Bearer realm="edge-ser"'})
                return
        elif not self._host_is_loopback():
            raise BadRequest(421, "this dashboard answers to its loopback address only")
        dashboard = self.server.dashboard
        if path in ("/", "/index.html"):
            page = self.server.page
            self._send(200, page.body, "text/html; charset=utf-8", {
                "Content-Security-Policy": page.csp})
        elif path == "/api/state":
            self._json(self.server.state())
        elif path == "/api/history":
            seconds = parse_seconds(query.get("seconds"), dashboard.hub.limits.history_seconds)
            entries = dashboard.hub.history(seconds)
            self._json({"seconds": seconds, "decisions": [e.record for e in entries]})
        elif path == "/api/info":
            self._json(dashboard.info)
        elif path == "/events":
            self._events()
        else:
            self.send_error(404)

    def _host_is_loopback(self) -> bool:
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return bool(name) and is_loopback(name)

    # ---- responses -----------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any) -> None:
        self._send(200, to_json(obj).encode("utf-8"), "application/json")

    def _events(self) -> None:
        sub = self.server.dashboard.hub.subscribe()
        if sub is None:
            self.send_error(503, "too many event streams", headers={"Retry-After": "10"})
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            if self.command == "HEAD":
                return
            self.wfile.write(b"retry: 3000\n\n")
            while True:
                try:
                    entry = sub.get(KEEPALIVE_SECONDS)
                except TimeoutError:
                    self.wfile.write(b": keepalive\n\n")
                    continue
                if entry is None:
                    return
                self.wfile.write(f"id: {entry.seq}\ndata: {entry.text}\n\n".encode())
        except OSError:
            return  # the client went away or stopped reading (write timeout)
        finally:
            sub.close()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None,
                   headers: dict[str, str] | None = None) -> None:
        """http.server's error page, plus our extra headers (Allow, Retry-After, ...)."""
        self._extra = headers or {}
        super().send_error(code, message, explain)

    def end_headers(self) -> None:
        for k, v in getattr(self, "_extra", {}).items():
            self.send_header(k, v)
        self._extra = {}
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()

    def version_string(self) -> str:
        return "edge-ser"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the journal gets decisions and errors, not an access log


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
