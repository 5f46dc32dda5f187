"""Decisions fanned out to web clients, and the recent ones kept for a chart: all bounded.

The live loop calls :meth:`Hub.publish` from the audio path, so publishing never waits on a
client or the network: it appends to a bounded history and to each subscriber's bounded queue
under one short lock. A subscriber that does not keep up (its queue is full) is dropped and
counted; the next decision is never held back for it. Records are the JSON objects of
``listen --json`` (:meth:`edge.outputs.JsonLines.record`), encoded once for every client.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from edge.outputs import to_json

#: The longest stretch of stream time the history keeps (and ``/api/history`` may ask for).
HISTORY_SECONDS = 600.0


@dataclass(frozen=True)
class HubLimits:
    """How much a hub may hold: every number here bounds memory or threads."""

    max_subscribers: int = 16  # event streams at once; the next is refused (HTTP 503)
    queue_size: int = 64  # decisions waiting for one subscriber before it is dropped
    history_seconds: float = HISTORY_SECONDS  # stream time kept
    history_size: int = 4096  # decisions kept, whatever their times


@dataclass(frozen=True)
class Entry:
    """One decision: its record (a dict, not to be mutated) and its JSON text."""

    seq: int
    record: dict[str, Any]
    text: str


class Subscription:
    """One client's queue. :meth:`get` waits for the next entry; ``None`` means it is over
    (the hub closed, or this client was dropped for falling behind)."""

    def __init__(self, hub: Hub, size: int) -> None:
        self._hub = hub
        self._queue: deque[Entry] = deque()
        self._size = size
        self._ready = threading.Condition(hub._lock)
        self.dropped = False
        self.closed = False

    def _offer(self, entry: Entry) -> bool:
        """Queue ``entry`` (hub lock held); False when the queue is full."""
        if len(self._queue) >= self._size:
            return False
        self._queue.append(entry)
        self._ready.notify()
        return True

    def get(self, timeout: float | None = None) -> Entry | None:
        """The next entry; ``None`` when over. Raises TimeoutError after ``timeout`` s idle."""
        with self._ready:
            if not self._queue and not self.closed:
                self._ready.wait(timeout)
            if self._queue:
                return self._queue.popleft()
            if self.closed:
                return None
            raise TimeoutError

    def close(self) -> None:
        self._hub._remove(self)


class Hub:
    """Latest decision, bounded history, bounded fan-out (thread-safe)."""

    def __init__(self, limits: HubLimits | None = None) -> None:
        self.limits = limits or HubLimits()
        self._lock = threading.Lock()
        self._history: deque[Entry] = deque(maxlen=self.limits.history_size)
        self._subs: list[Subscription] = []
        self._seq = 0
        self._closed = False
        self.dropped_clients = 0  # subscribers dropped because they fell behind
        self.refused_clients = 0  # subscribers refused because the hub was full

    def publish(self, record: dict[str, Any]) -> None:
        """Keep ``record`` and offer it to every subscriber; never blocks on a client."""
        text = to_json(record)  # encoded once, outside the lock
        with self._lock:
            self._seq += 1
            entry = Entry(self._seq, record, text)
            self._history.append(entry)
            horizon = float(record.get("t", 0.0)) - self.limits.history_seconds
            while self._history and float(self._history[0].record.get("t", 0.0)) < horizon:
                self._history.popleft()
            for sub in [s for s in self._subs if not s._offer(entry)]:
                sub.dropped = True
                self.dropped_clients += 1
                self._close_locked(sub)

    def subscribe(self) -> Subscription | None:
        """A new subscription, or ``None`` when ``max_subscribers`` are connected (or the hub
        is closed)."""
        with self._lock:
            if self._closed or len(self._subs) >= self.limits.max_subscribers:
                self.refused_clients += 1
                return None
            sub = Subscription(self, self.limits.queue_size)
            self._subs.append(sub)
            return sub

    def latest(self) -> Entry | None:
        with self._lock:
            return self._history[-1] if self._history else None

    def history(self, seconds: float) -> list[Entry]:
        """The decisions of the last ``seconds`` of stream time (up to the latest one)."""
        with self._lock:
            if not self._history:
                return []
            since = float(self._history[-1].record.get("t", 0.0)) - seconds
            return [e for e in self._history if float(e.record.get("t", 0.0)) >= since]

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    @property
    def published(self) -> int:
        with self._lock:
            return self._seq

    def close(self) -> None:
        """End every subscription (their :meth:`Subscription.get` returns ``None``)."""
        with self._lock:
            self._closed = True
            for sub in list(self._subs):
                self._close_locked(sub)

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            self._close_locked(sub)

    def _close_locked(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        sub.closed = True
        sub._queue.clear()
        sub._ready.notify_all()
