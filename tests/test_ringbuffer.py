"""The capture ring buffer: FIFO, drops the oldest when full (counted), never blocks the writer."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge.ringbuffer import RingBuffer


def test_fifo_with_wrap_around() -> None:
    rb = RingBuffer(8)
    rb.write(np.arange(5))
    assert rb.read(3).tolist() == [0, 1, 2]
    rb.write(np.arange(5, 11))  # wraps past the end of the storage
    assert len(rb) == 8
    assert rb.read(100).tolist() == list(range(3, 11))
    s = rb.stats()
    assert (s.written, s.read, s.dropped, s.overflows, s.available) == (11, 11, 0, 0, 0)


def test_overflow_drops_the_oldest_and_counts() -> None:
    rb = RingBuffer(10)
    rb.write(np.arange(8))
    dropped = rb.write(np.arange(8, 13))  # 3 too many
    assert dropped == 3
    assert rb.read(100).tolist() == list(range(3, 13))
    rb.write(np.arange(100, 125))  # one chunk bigger than the ring: keep its newest part
    assert rb.read(100).tolist() == list(range(115, 125))
    s = rb.stats()
    assert s.dropped == 3 + 15 and s.overflows == 2 and s.written == 38


def test_read_waits_then_times_out_and_close_wakes_the_reader() -> None:
    rb = RingBuffer(16)
    t0 = time.monotonic()
    assert rb.read(4, timeout=0.05).size == 0
    assert time.monotonic() - t0 >= 0.04
    got: list[np.ndarray] = []
    reader = threading.Thread(target=lambda: got.append(rb.read(4, timeout=5)))
    reader.start()
    time.sleep(0.05)
    rb.write(np.array([7, 8], dtype=np.int16))
    reader.join(2)
    assert got[0].tolist() == [7, 8]
    reader = threading.Thread(target=lambda: got.append(rb.read(4, timeout=5)))
    reader.start()
    rb.close()
    reader.join(2)
    assert not reader.is_alive() and got[1].size == 0 and rb.closed


def test_rejects_a_zero_capacity() -> None:
    with pytest.raises(ValueError):
        RingBuffer(0)


@pytest.mark.parametrize("consumer_delay", [0.0, 0.002])
def test_concurrent_producer_and_slow_consumer(consumer_delay: float) -> None:
    """Everything read is in order; what is missing was counted as dropped."""
    rb = RingBuffer(1000, dtype=np.int64)
    n_total, chunk = 200_000, 160
    received: list[np.ndarray] = []
    done = threading.Event()

    def produce() -> None:
        for start in range(0, n_total, chunk):
            rb.write(np.arange(start, start + chunk))
            if start % (chunk * 50) == 0:
                time.sleep(0.0005)
        rb.close()
        done.set()

    def consume() -> None:
        while True:
            data = rb.read(300, timeout=1)
            if data.size == 0 and rb.closed:
                return
            received.append(data)
            if consumer_delay:
                time.sleep(consumer_delay)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert done.is_set()
    got = np.concatenate(received)
    assert np.all(np.diff(got) > 0), "samples came out of order"
    s = rb.stats()
    assert s.written == n_total
    assert got.size + s.dropped == n_total
    assert got[-1] == n_total - 1  # the newest audio always survives
    if consumer_delay:
        assert s.dropped > 0 and s.overflows > 0
    gaps = int(np.sum(np.diff(got) - 1))
    assert gaps == s.dropped - int(got[0])
