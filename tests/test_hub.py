"""The fan-out between the audio path and web clients: bounded everywhere, never blocking."""

from __future__ import annotations

import threading
import time

from edge.hub import Hub, HubLimits


def rec(t: float, label: str = "angry") -> dict:
    return {"t": t, "label": label, "probabilities": {"angry": 0.9, "sad": 0.1}}


def test_latest_and_history_by_stream_time() -> None:
    hub = Hub()
    assert hub.latest() is None and hub.history(60) == []
    for k in range(10):
        hub.publish(rec(float(k)))
    assert hub.latest().record["t"] == 9.0 and hub.published == 10
    assert [e.record["t"] for e in hub.history(3)] == [6.0, 7.0, 8.0, 9.0]
    assert len(hub.history(1e9)) == 10
    assert hub.latest().text.startswith('{"t": 9.0, "label": "angry"')


def test_history_is_bounded_by_time_and_by_count() -> None:
    hub = Hub(HubLimits(history_seconds=100, history_size=50))
    for k in range(400):
        hub.publish(rec(k * 0.5))  # 200 s of decisions
    kept = hub.history(1e9)
    assert len(kept) == 50  # the count bound wins here
    hub = Hub(HubLimits(history_seconds=10, history_size=5000))
    for k in range(400):
        hub.publish(rec(k * 0.5))
    assert hub.history(1e9)[0].record["t"] == 199.5 - 10


def test_every_subscriber_gets_every_decision_in_order() -> None:
    hub = Hub()
    a, b = hub.subscribe(), hub.subscribe()
    for k in range(5):
        hub.publish(rec(float(k)))
    for sub in (a, b):
        assert [sub.get(0).seq for _ in range(5)] == [1, 2, 3, 4, 5]


def test_a_slow_subscriber_is_dropped_and_counted_not_waited_for() -> None:
    hub = Hub(HubLimits(queue_size=4))
    slow, fast = hub.subscribe(), hub.subscribe()
    got: list[int] = []
    for k in range(200):
        hub.publish(rec(float(k)))  # returns at once, whoever reads or not
        got.append(fast.get(0).seq)  # this one keeps up
        if k < 3:
            assert not slow.dropped
    assert slow.dropped and slow.get(0) is None  # dropped at the 5th, its queue full
    assert hub.dropped_clients == 1 and hub.subscribers == 1
    assert got == list(range(1, 201))  # the reader that keeps up misses nothing


def test_subscribers_are_bounded_and_a_slot_frees_on_close() -> None:
    hub = Hub(HubLimits(max_subscribers=3))
    subs = [hub.subscribe() for _ in range(3)]
    assert all(subs) and hub.subscribe() is None and hub.refused_clients == 1
    subs[0].close()
    assert hub.subscribe() is not None


def test_get_times_out_and_close_wakes_waiters() -> None:
    hub = Hub()
    sub = hub.subscribe()
    t0 = time.monotonic()
    try:
        sub.get(0.1)
        raise AssertionError("no entry: get must time out")
    except TimeoutError:
        pass
    assert 0.05 < time.monotonic() - t0 < 2
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(sub.get(10)))
    t.start()
    time.sleep(0.1)
    hub.close()
    t.join(2)
    assert out == [None] and hub.subscribe() is None


def test_publish_cost_does_not_grow_with_stuck_clients() -> None:
    hub = Hub(HubLimits(max_subscribers=16, queue_size=8))
    subs = [hub.subscribe() for _ in range(16)]  # nobody reads
    t0 = time.perf_counter()
    for k in range(2000):
        hub.publish(rec(k * 0.5))
    assert time.perf_counter() - t0 < 2.0
    assert all(s.dropped for s in subs) and hub.dropped_clients == 16
