"""`edge-ser serve` end to end in a child process: what it serves is what `listen --json`
prints, the token off loopback, and a hostile crowd of clients that costs the listener nothing."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from fixtures.services import serve, summary_counts
from fixtures.synth import silence, syllables
from fixtures.tiny import TINY
from test_webserver import HOSTILE, raw

from edge.wav import write_wav

M = ["--models", str(TINY)]
COMPARED = ("t", "label", "confidence", "speech", "speech_ratio", "probabilities", "dropped",
            "source")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("serve-clips")
    short = np.concatenate([silence(0.5), syllables(4, 1.5, seed=1), syllables(7, 1.5, seed=2)])
    long = np.concatenate([np.concatenate([syllables(k, 1.5, seed=k), silence(0.5, seed=k)])
                           for k in (4, 0, 7, 3, 5, 2)])
    return {"short": write_wav(d / "short.wav", short, 16000),
            "long": write_wav(d / "long.wav", long, 16000)}


def events(port: int, out: list[dict], stop: threading.Event, path: str = "/events") -> None:
    """Read server-sent events into ``out`` until the stream ends or ``stop`` is set."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        buf = b""
        s.settimeout(0.5)
        while not stop.is_set():
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            buf += chunk
            *blocks, buf = buf.split(b"\n\n")
            for block in blocks:
                for line in block.split(b"\n"):
                    if line.startswith(b"data: "):
                        out.append(json.loads(line[6:]))


def test_serve_sends_the_objects_of_listen_json(clips, tmp_path: Path) -> None:
    private = {"HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path / "tmp")}
    for folder in private.values():
        Path(folder).mkdir()
    expected = [json.loads(x) for x in run_cli("listen", "--source", str(clips["short"]),
                                               "--fast", "--json", *M).stdout.splitlines()]
    served = serve("--source", str(clips["short"]), "--realtime", *M, env=private)
    got: list[dict] = []
    stop = threading.Event()
    reader = threading.Thread(target=events, args=(served.port, got, stop))
    reader.start()
    try:
        served.stderr_until("the input has ended")
        time.sleep(0.3)
        status, state = served.get("/api/state")
        assert status == 200 and state["listening"] is False
        assert state["stopped_by"] == "end of input"
        import wave

        with wave.open(str(clips["short"])) as w:  # all of it heard (the chart runs to it)
            assert state["heard"] == pytest.approx(w.getnframes() / w.getframerate(), abs=0.01)
        status, hist = served.get("/api/history?seconds=600")
        _, info = served.get("/api/info")
    finally:
        stop.set()
        reader.join(5)
        err = served.stop()
    assert served.proc.returncode == 0, err
    strip = [{k: e[k] for k in COMPARED} for e in expected]
    assert [{k: e[k] for k in COMPARED} for e in got] == strip
    assert [{k: e[k] for k in COMPARED} for e in hist["decisions"]] == strip
    assert state["decision"] == got[-1] and state["decisions"] == len(expected)
    assert info["labels"] == list(expected[0]["probabilities"]) and info["members"] == 3
    assert "Traceback" not in err and "stopped serving" in err
    # nothing written anywhere: no audio (or anything else) is stored by serve
    assert [p for folder in private.values() for p in Path(folder).rglob("*")] == []


def test_serve_off_loopback_needs_the_token_printed_once(clips) -> None:
    served = serve("--host", "0.0.0.0", "--source", str(clips["short"]), "--fast", *M)
    try:
        token = served.url.split("?token=")[1]
        assert len(token) >= 24
        served.stderr_until("the input has ended")
        assert served.get("/api/state")[0] == 401
        assert served.get("/?token=nope-nope-nope-nope")[0] == 401
        assert served.get("/api/state", token=token)[0] == 200
        assert served.get(f"/?token={token}")[0] == 200
    finally:
        err = served.stop()
    assert err.count(token) == 1
    given = "a-token-of-my-own-0123"
    served = serve("--host", "0.0.0.0", "--source", str(clips["short"]), "--fast", *M,
                   env={"EDGE_SER_TOKEN": given})
    try:
        assert served.get("/api/info", token=given)[0] == 200
        assert served.get("/api/info")[0] == 401
    finally:
        err = served.stop()
    assert given not in err and "token required" in err


def test_serve_option_errors_are_one_line(clips) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_cli("serve", "--port", str(port), "--source", str(clips["short"]), *M)
    assert r.returncode == 1 and "cannot listen on 127.0.0.1" in r.stderr
    r = run_cli("serve", "--host", "0.0.0.0", "--token", "short", "--source",
                str(clips["short"]), *M)
    assert r.returncode == 2 and "--token must be" in r.stderr
    for bad in (r, run_cli("serve", "--port", "99999", *M)):
        assert "Traceback" not in bad.stderr and bad.returncode != 0


@pytest.mark.slow
def test_hostile_clients_cost_the_listener_no_window(clips) -> None:
    """While `serve --realtime` listens, a crowd of hostile and broken clients gets 4xx/503,
    and the listener keeps every window (as many as `listen --fast`) and drops no audio."""
    windows, _ = summary_counts(run_cli("listen", "--source", str(clips["long"]), "--fast",
                                        *M).stderr)
    served = serve("--source", str(clips["long"]), "--realtime", *M)
    port = served.port
    statuses: list[int | None] = []
    lock = threading.Lock()
    stop = threading.Event()

    def record(status: int | None) -> None:
        with lock:
            statuses.append(status)

    def hostile() -> None:
        while not stop.is_set():
            for _name, data, _ in HOSTILE:
                record(raw(port, data))

    def slow_sender() -> None:
        while not stop.is_set():
            record(raw(port, b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", pause=6))

    def crowd() -> None:  # many idle connections at once
        while not stop.is_set():
            socks = []
            for _ in range(80):
                with contextlib.suppress(OSError):
                    socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            time.sleep(1.0)
            for s in socks:
                s.close()

    def deaf_stream() -> None:  # asks for events and never reads them
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
            s.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            stop.wait()

    streams: list[list[dict]] = [[] for _ in range(20)]
    threads = [threading.Thread(target=events, args=(port, s, stop)) for s in streams]
    threads += [threading.Thread(target=f) for f in (deaf_stream, hostile, hostile, slow_sender,
                                                     slow_sender, crowd)]
    for k, t in enumerate(threads):
        t.start()
        if k == len(streams) - 1:
            time.sleep(0.5)  # the event streams first, then the crowd
    try:
        served.stderr_until("the input has ended", timeout=90)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        err = served.stop()
    assert served.proc.returncode == 0, err
    assert summary_counts(err) == (windows, 0)  # every window, no audio dropped
    bad = sorted({s for s in statuses if s is not None and not (400 <= s < 500 or s == 503)})
    assert statuses and not bad, bad
    assert {400, 404, 405} <= set(statuses) and 503 in statuses
    served_streams = [s for s in streams if s]
    assert 10 <= len(served_streams) <= 16  # never more than the limit at once


def test_the_serve_unit_runs_and_stops_cleanly(clips) -> None:
    """The unit's own ExecStart (a file instead of the microphone, any free port), stopped with
    its KillSignal: exit 0 within TimeoutStopSec, so Restart=on-failure leaves it stopped."""
    import configparser
    import shlex
    import signal

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(Path(__file__).resolve().parents[1] / "firmware_config" / "edge-ser-serve.service")
    service = unit["Service"]
    assert service["User"] == "edge-ser" and service["NoNewPrivileges"] == "yes"
    assert "AF_INET" in service["RestrictAddressFamilies"] and "PrivateDevices" not in service
    assert unit["Unit"]["Conflicts"] == "edge-ser.service"
    argv = shlex.split(service["ExecStart"])
    assert argv[1] == "serve" and argv[argv.index("--host") + 1] == "127.0.0.1"
    env = dict(a.partition("=")[::2] for a in shlex.split(service.get("Environment", "")))
    served = serve(*argv[2:], "--port", "0", "--source", str(clips["short"]), "--realtime", *M,
                   env=env)
    served.get("/api/state")
    t0 = time.monotonic()
    served.proc.send_signal(getattr(signal, service.get("KillSignal", "SIGTERM")))
    # one signal, as systemd sends it: wait for the exit (stop() would signal a second time,
    # which during a slow shutdown on a loaded machine kills with the default handler)
    served.proc.wait(float(service["TimeoutStopSec"]))
    err = served.stop()
    assert served.proc.returncode == 0 and "Traceback" not in err
    assert time.monotonic() - t0 < float(service["TimeoutStopSec"])
