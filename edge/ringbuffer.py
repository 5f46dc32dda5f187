"""A fixed-size sample ring between the capture callback and the consumer.

The PortAudio callback runs on the audio thread and must return quickly, so it only copies
into this buffer. When the consumer falls behind, the *oldest* audio is overwritten (the
newest is what a live decision needs) and the loss is counted; :meth:`write` never blocks
on the consumer, only on a lock held for a memcpy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RingStats:
    written: int  # samples ever written
    read: int  # samples ever read
    dropped: int  # samples overwritten before they were read
    overflows: int  # writes that had to drop something
    available: int  # samples waiting now


class RingBuffer:
    """Single-producer, single-consumer sample FIFO of fixed capacity that drops the oldest."""

    def __init__(self, capacity: int, dtype: np.dtype | type = np.int16) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._buf = np.zeros(capacity, dtype=dtype)
        self.capacity = capacity
        self._start = 0  # index of the oldest unread sample
        self._size = 0
        self._written = self._read = self._dropped = self._overflows = 0
        self._closed = False
        self._cond = threading.Condition(threading.Lock())

    # ---- producer -------------------------------------------------------------------
    def write(self, data: np.ndarray) -> int:
        """Copy ``data`` in, dropping the oldest unread samples if full. Returns samples dropped."""
        data = np.asarray(data, dtype=self._buf.dtype).reshape(-1)
        n = data.size
        if n == 0:
            return 0
        cap = self.capacity
        with self._cond:
            dropped = 0
            if n >= cap:  # the chunk alone fills the ring: keep its newest part
                dropped = self._size + (n - cap)
                data = data[n - cap:]
                self._buf[:] = data
                self._start, self._size = 0, cap
            else:
                overflow = self._size + n - cap
                if overflow > 0:
                    dropped = overflow
                    self._start = (self._start + overflow) % cap
                    self._size -= overflow
                end = (self._start + self._size) % cap
                first = min(n, cap - end)
                self._buf[end:end + first] = data[:first]
                if first < n:
                    self._buf[: n - first] = data[first:]
                self._size += n
            self._written += n
            if dropped:
                self._dropped += dropped
                self._overflows += 1
            self._cond.notify()
        return dropped

    def close(self) -> None:
        """No more data will come: wake the reader, which drains what is left."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ---- consumer -------------------------------------------------------------------
    def read(self, max_samples: int, timeout: float | None = None) -> np.ndarray:
        """Up to ``max_samples`` of the oldest unread samples (a copy).

        Waits up to ``timeout`` seconds (forever if None) for at least one sample; returns an
        empty array on timeout or once closed and drained.
        """
        with self._cond:
            if self._size == 0 and not self._closed:
                self._cond.wait_for(lambda: self._size > 0 or self._closed, timeout)
            n = min(max_samples, self._size)
            out = np.empty(n, dtype=self._buf.dtype)
            first = min(n, self.capacity - self._start)
            out[:first] = self._buf[self._start:self._start + first]
            if first < n:
                out[first:] = self._buf[: n - first]
            self._start = (self._start + n) % self.capacity
            self._size -= n
            self._read += n
            return out

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> RingStats:
        with self._cond:
            return RingStats(self._written, self._read, self._dropped, self._overflows, self._size)

    def __len__(self) -> int:
        return self._size
