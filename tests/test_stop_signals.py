"""edge.stop_signals: a stop signal that arrives while the main thread holds a lock the stop
needs still stops the run (the handler itself takes no lock); the stop request is set before
the main thread goes on; a second Ctrl-C is immediate."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import REPO

from edge.stop_signals import StopRequest, stop_on_signals

HELD_LOCK_CHILD = textwrap.dedent("""
    import signal, threading
    from edge.stop_signals import StopRequest, stop_on_signals
    lock = threading.Lock()   # a ring buffer's lock, say: taken by the stop and by the reader
    stopped = threading.Event()
    request = StopRequest()

    def on_stop():
        with lock:
            stopped.set()

    with stop_on_signals(request, on_stop):
        for _ in range(50):
            with lock:
                signal.raise_signal(signal.SIGTERM)  # handled here, with the lock held
                seen_at_once = request.is_set()
            if stopped.wait(2.0):
                break
    print("stopped" if stopped.is_set() and seen_at_once else "not stopped", flush=True)
""")


def test_a_signal_while_the_main_thread_holds_the_stop_lock_still_stops() -> None:
    r = subprocess.run([sys.executable, "-c", HELD_LOCK_CHILD], cwd=REPO, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "stopped"


def test_no_signal_no_stop_and_the_handlers_are_restored() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    calls: list[str] = []
    request = StopRequest()
    with stop_on_signals(request, lambda: calls.append("stop")):
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert calls == [] and not request.is_set()
    assert {s: signal.getsignal(s) for s in before} == before
    assert not any(t.name == "edge-ser stop signals" for t in threading.enumerate())


def test_one_stop_per_run_and_a_second_ctrl_c_raises() -> None:
    stopped = threading.Event()
    calls: list[int] = []
    request = StopRequest()

    def on_stop() -> None:
        calls.append(1)
        stopped.set()

    with pytest.raises(KeyboardInterrupt), stop_on_signals(request, on_stop):
        signal.raise_signal(signal.SIGTERM)
        assert request.is_set()  # before this line runs: the handler set it
        assert stopped.wait(5.0)
        signal.raise_signal(signal.SIGTERM)  # repeated SIGTERM: still one stop
        signal.raise_signal(signal.SIGINT)   # Ctrl-C after a stop: at once
    assert calls == [1]


def test_a_stop_request_wakes_every_waiter_and_times_out_otherwise() -> None:
    request = StopRequest()
    t0 = time.monotonic()
    assert request.wait(0.05) is False and time.monotonic() - t0 >= 0.04
    woke: list[bool] = []
    waiters = [threading.Thread(target=lambda: woke.append(request.wait(30.0)))
               for _ in range(3)]
    for w in waiters:
        w.start()
    request.set()
    request.set()  # twice is once
    for w in waiters:
        w.join(10.0)
    assert woke == [True, True, True] and request.wait(0) and request.is_set()
