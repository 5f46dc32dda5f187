"""Decisions to an MQTT broker, for Home Assistant, Node-RED and the like.

Topics (``<name>`` is the device name, sanitised): every decision as JSON to
``edge-ser/<name>/decision``; the latest one, retained, to ``edge-ser/<name>/state``;
``online``/``offline``, retained, to ``edge-ser/<name>/availability`` (``offline`` is also the
last will, sent by the broker when the process dies); and a retained Home Assistant discovery
config (a sensor whose state is the emotion and whose attributes are the probabilities).

The broker is never on the audio path: :meth:`MqttPublisher.publish` only puts the record in a
bounded queue. A publisher thread hands it to paho-mqtt, whose own thread connects, reconnects
with backoff and writes. A broker that is down or goes away costs messages (counted, reported
as "not delivered"), never audio. Decisions made while the first connection is being set up
(TCP, TLS handshake, CONNACK) wait for it in the queue, at most :data:`CONNECT_GRACE` seconds:
a short file heard with ``--fast`` is over before a TLS handshake is.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from edge import __version__
from edge.errors import ConfigError
from edge.outputs import to_json

INSTALL_HINT = "pip install 'edge-ser[mqtt]' (or: pip install paho-mqtt)"
#: A password may come from the environment instead of the URL (which `ps` shows).
PASSWORD_ENV = "EDGE_SER_MQTT_PASSWORD"
TOPIC_ROOT = "edge-ser"
DISCOVERY_PREFIX = "homeassistant"
QUEUE_SIZE = 256  # decisions waiting for the publisher thread; beyond: not delivered
RECONNECT_DELAY = (1, 30)  # seconds: paho doubles the wait after each failed attempt
CONNECT_GRACE = 5.0  # seconds the publisher thread waits for the first connection attempt


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how to connect (from ``--mqtt URL`` and ``--mqtt-ca``)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None

    @property
    def address(self) -> str:
        """``host:port`` for messages (never the credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


def parse_broker_url(url: str, ca_file: Path | None = None) -> BrokerConfig:
    """``mqtt://[USER[:PASS]@]HOST[:PORT]`` or ``mqtts://...`` → :class:`BrokerConfig`.
    Anything else is a one-line :class:`ConfigError`."""
    def bad(why: str) -> ConfigError:
        return ConfigError(f"--mqtt {_redacted(url)}: {why} (expected "
                           "mqtt://[USER:PASS@]HOST[:PORT] or mqtts://...)")

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise bad(str(exc)) from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise bad(f"unknown scheme {parts.scheme!r}" if parts.scheme else "no scheme")
    if not parts.hostname:
        raise bad("no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad("a broker URL has no path, query or fragment")
    tls = parts.scheme == "mqtts"
    if ca_file is not None:
        if not tls:
            raise ConfigError("--mqtt-ca needs an mqtts:// broker URL")
        if not Path(ca_file).is_file():
            raise ConfigError(f"--mqtt-ca {ca_file}: no such file")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if username and password is None:
        password = os.environ.get(PASSWORD_ENV)
    return BrokerConfig(host=parts.hostname, port=port or (8883 if tls else 1883), tls=tls,
                        username=username or None, password=password,
                        ca_file=Path(ca_file) if ca_file is not None else None)


def _redacted(url: str) -> str:
    """The URL without its password, for error messages."""
    return re.sub(r"(//[^/@:]*):[^/@]*@", r"\1:***@", url)


def device_topic_name(name: str | None = None) -> str:
    """The device name as one MQTT topic level and Home Assistant node id: letters, digits,
    ``-`` and ``_`` only (``Living Room.lan`` → ``Living-Room-lan``); default the host name."""
    raw = socket.gethostname() if name is None else name
    clean = re.sub(r"[^A-Za-z0-9_-]+", "-", raw).strip("-_")[:64]
    if not clean:
        raise ConfigError(f"--device-name {raw!r}: needs at least one letter or digit")
    return clean


@dataclass(frozen=True)
class Topics:
    """Every topic of one device."""

    device: str

    @property
    def base(self) -> str:
        return f"{TOPIC_ROOT}/{self.device}"

    @property
    def decision(self) -> str:
        return f"{self.base}/decision"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def node(self) -> str:
        return f"edge-ser-{self.device}"

    @property
    def discovery(self) -> str:
        return f"{DISCOVERY_PREFIX}/sensor/{self.node}/emotion/config"


def discovery_config(topics: Topics) -> dict[str, Any]:
    """Home Assistant MQTT discovery: a sensor whose state is the label (an emotion,
    ``uncertain`` or ``silence``) and whose attributes are the class probabilities."""
    return {
        "name": "Emotion",
        "unique_id": f"{topics.node}-emotion",
        "object_id": f"{topics.node.replace('-', '_')}_emotion",
        "icon": "mdi:emoticon-outline",
        "state_topic": topics.state,
        "value_template": "{{ value_json.label }}",
        "json_attributes_topic": topics.state,
        "json_attributes_template": "{{ value_json.probabilities | tojson }}",
        "availability_topic": topics.availability,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {"identifiers": [topics.node], "name": f"edge-ser {topics.device}",
                   "manufacturer": "edge-ser", "model": "speech emotion recognition",
                   "sw_version": __version__},
        "origin": {"name": "edge-ser", "sw_version": __version__},
    }


@dataclass
class MqttStats:
    sent: int = 0  # decisions handed to the broker connection
    undelivered: int = 0  # decisions lost: queue full, or no connection to the broker
    connected: bool = False
    connects: int = 0


class MqttPublisher:
    """Publish decision records; connection, reconnection and writing happen off the caller's
    thread. Use :meth:`start`, :meth:`publish` per record, :meth:`close` at the end."""

    def __init__(self, broker: BrokerConfig, device: str) -> None:
        from edge.deps import require

        self._mqtt = require("paho.mqtt.client", "--mqtt", INSTALL_HINT)
        self.broker = broker
        self.topics = Topics(device)
        self.stats = MqttStats()
        self._lock = threading.Lock()
        self._published = 0  # every record given to publish(): each is sent or not delivered
        self._closed = False
        self._first_attempt = threading.Event()  # set when the first connection succeeded or failed
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._drain, name="mqtt-publish", daemon=True)
        self._client = self._make_client()

    def _make_client(self) -> Any:
        mqtt = self._mqtt
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"{self.topics.node}-{os.getpid()}")
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            ca = str(self.broker.ca_file) if self.broker.ca_file else None
            client.tls_set(ca_certs=ca)
        client.will_set(self.topics.availability, "offline", qos=1, retain=True)
        client.reconnect_delay_set(*RECONNECT_DELAY)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        return client

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        """Connect in the background (a broker that is down is retried, never waited for)."""
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self._client.loop_start()
        self._thread.start()

    def publish(self, record: dict[str, Any]) -> None:
        """Queue one decision record; never blocks (a full queue counts it as undelivered)."""
        with self._lock:
            self._published += 1
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            with self._lock:
                self.stats.undelivered += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON (for ``/api/state``)."""
        with self._lock:
            s = self.stats
            return {"broker": self.broker.address, "connected": s.connected, "sent": s.sent,
                    "undelivered": s.undelivered, "connects": s.connects,
                    "topic": self.topics.base}

    def close(self, timeout: float = 2.0) -> MqttStats:
        """Say ``offline`` (retained), disconnect, stop the threads; bounded by ``timeout``.
        What was not sent by then counts as not delivered."""
        end = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):  # full: the thread waits for a first connection
            self._queue.put(None, timeout=timeout)
        self._thread.join(max(0.0, end - time.monotonic()))
        with self._lock:
            self._closed = True  # a publisher thread that is still waiting sends nothing more
            connected = self.stats.connected
        if connected:
            info = self._client.publish(self.topics.availability, "offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):  # the connection went away
                info.wait_for_publish(timeout)
        self._client.disconnect()
        stopper = threading.Thread(target=self._client.loop_stop, daemon=True)
        stopper.start()
        stopper.join(timeout)
        with self._lock:
            # left in the queue (or in the publisher thread's hands) by a timeout: not delivered
            self.stats.undelivered = self._published - self.stats.sent
            return MqttStats(**vars(self.stats))

    # ---- threads -----------------------------------------------------------------------
    def _drain(self) -> None:
        mqtt = self._mqtt
        while (record := self._queue.get()) is not None:
            text = to_json(record)
            if not self._first_attempt.is_set():
                # the first connection is on its way: wait for it (never longer than the grace)
                self._first_attempt.wait(CONNECT_GRACE)
                self._first_attempt.set()
            with self._lock:
                if self._closed:
                    return
            if not self._client.is_connected():
                with self._lock:
                    self.stats.undelivered += 1
                continue
            a = self._client.publish(self.topics.decision, text, qos=0)
            b = self._client.publish(self.topics.state, text, qos=0, retain=True)
            ok = a.rc == b.rc == mqtt.MQTT_ERR_SUCCESS
            with self._lock:
                if ok:
                    self.stats.sent += 1
                else:
                    self.stats.undelivered += 1

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any,
                    _props: Any) -> None:
        if reason.is_failure:  # refused (bad credentials, ...): paho tries again later
            self._first_attempt.set()
            return
        with self._lock:
            self.stats.connected = True
            self.stats.connects += 1
        client.publish(self.topics.discovery, to_json(discovery_config(self.topics)),
                       qos=1, retain=True)
        client.publish(self.topics.availability, "online", qos=1, retain=True)
        self._first_attempt.set()  # after "online": decisions follow it

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        self._first_attempt.set()  # no broker there, TLS refused, ...: paho tries again later

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, _reason: Any,
                       _props: Any) -> None:
        self._first_attempt.set()
        with self._lock:
            self.stats.connected = False
