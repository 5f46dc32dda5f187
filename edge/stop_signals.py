"""SIGINT/SIGTERM as a stop request that cannot deadlock.

A Python signal handler runs on the main thread between two bytecodes, possibly while that
thread holds a lock (a ring buffer's, an Event's). A handler that takes the same lock waits
for itself forever: `listen` then ignored SIGTERM under load (CI, session 21). So the handler
here takes no Python lock: it sets a :class:`StopRequest` (a flag and a pipe byte), at once,
so whatever the main thread sees next (say, the end of its input) is known to come after the
stop; a watcher thread then runs ``on_stop`` (stopping the sources), which may take any lock,
since the main thread releases it in time. A second SIGINT raises KeyboardInterrupt at once.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """``threading.Event``'s ``set``/``is_set``/``wait``, where ``set`` takes no lock (so a
    signal handler may call it): a flag, and a byte in a pipe that wakes every ``wait``."""

    def __init__(self) -> None:
        self._flag = False
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        weakref.finalize(self, _close_fds, self._read_fd, self._write_fd)

    def set(self) -> None:
        if not self._flag:
            self._flag = True
            with contextlib.suppress(OSError):  # the pipe holds one byte: never full
                os.write(self._write_fd, b"s")

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        """True once set; False after ``timeout`` seconds (None: wait for ever)."""
        if not self._flag:  # select retries by itself when a signal interrupts it (PEP 475)
            select.select([self._read_fd], [], [], timeout)
        return self._flag


def _close_fds(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest, on_stop: Callable[[], None]) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM set ``stop`` (in the handler) and call ``on_stop`` once
    (on a watcher thread)."""
    wake_read, wake_write = os.pipe()
    received: list[int] = []  # appended by the handler: list.append takes no lock

    def on_signal(signum: int, _frame: Any) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)
        stop.set()
        with contextlib.suppress(OSError):
            os.write(wake_write, b"s")

    def watch() -> None:
        if os.read(wake_read, 1) == b"s":
            on_stop()

    watcher = threading.Thread(target=watch, name="edge-ser stop signals", daemon=True)
    watcher.start()
    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if not received:
            os.write(wake_write, b"x")  # no signal came: let the watcher end
        watcher.join()
        _close_fds(wake_read, wake_write)
