"""Peak memory of `edge-ser serve` (target: <= 60 MB) and the README's dashboard screenshot.

Figures are MiB (VmHWM / 1024), like every RSS figure in this repository.

Runs the real command in a child process with the bundled models on a generated recording
played in real time, with web clients attached the whole time (event streams, the page, the
JSON endpoints polled), optionally with --mqtt (to a mosquitto started here if installed, else
to a port where no broker listens: paho's thread and reconnects still run). Peak RSS is the
child's VmHWM, read from /proc just before it is stopped.

    python benchmarks/serve.py                       # RSS, with and without --mqtt
    python benchmarks/serve.py --screenshot docs/serve.png   # also the README screenshot
    python benchmarks/serve.py --json --out benchmarks/results/serve.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from fixtures.services import Mosquitto, free_port, serve  # noqa: E402

from edge.bench import bench_audio  # noqa: E402
from edge.wav import write_wav  # noqa: E402

LIMIT_MIB = 60.0


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def recording(path: Path, seconds: float) -> Path:
    """Speech-like syllable runs with pauses (what a room sounds like), generated."""
    rng = np.random.default_rng(3)
    parts = []
    while sum(p.size for p in parts) < seconds * 16000:
        parts += [bench_audio(3.0, 16000, seed=len(parts)),
                  1e-3 * rng.standard_normal(16000).astype(np.float32)]
    return write_wav(path, np.concatenate(parts)[: int(seconds * 16000)], 16000)


def clients(port: int, stop: threading.Event) -> list[threading.Thread]:
    """4 event streams and a poller of every endpoint, for the whole run."""
    def stream() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/events", timeout=60) as r:
            while not stop.is_set() and r.readline():
                pass

    def poll() -> None:
        while not stop.is_set():
            for path in ("/", "/api/state", "/api/history?seconds=600", "/api/info"):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                    r.read()
            time.sleep(0.2)

    threads = [threading.Thread(target=f, daemon=True) for f in (stream,) * 4 + (poll,)]
    for t in threads:
        t.start()
    return threads


def measure(wav: Path, mqtt: str | None) -> dict:
    args = ["--source", str(wav), "--realtime"] + (["--mqtt", mqtt] if mqtt else [])
    served = serve(*args)
    stop = threading.Event()
    clients(served.port, stop)
    try:
        served.stderr_until("the input has ended", timeout=600)
        _, state = served.get("/api/state")
        rss = peak_rss_mib(served.proc.pid)
    finally:
        stop.set()
        err = served.stop()
    summary = next(line for line in err.splitlines() if " s heard, " in line)
    return {"mqtt": mqtt, "peak_rss_mib": round(rss, 1), "decisions": state["decisions"],
            "summary": summary.removeprefix("edge-ser: "), "within_limit": rss <= LIMIT_MIB}


def screenshot(out: Path) -> None:
    """The page after `serve --source examples/hello.wav` has played it (bundled models)."""
    from fixtures.services import chromium

    with tempfile.TemporaryDirectory() as profile:
        driver = chromium(Path(profile))
        served = serve("--source", str(REPO / "examples" / "hello.wav"), "--realtime",
                       "--device-name", "raspberrypi")
        try:
            driver.get(served.url)
            served.stderr_until("the input has ended")
            time.sleep(3.5)  # the page polls /api/state every 3 s
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
        finally:
            served.stop()
            driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the recording")
    ap.add_argument("--screenshot", type=Path, help="also save the dashboard as this PNG")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, help="write the JSON here too")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = recording(Path(tmp) / "room.wav", a.seconds)
        runs = [measure(wav, None)]
        try:
            broker = Mosquitto(Path(tmp)).start()
            url = broker.url
        except BaseException:  # no mosquitto here (a skip): a port where nobody listens
            broker, url = None, f"mqtt://127.0.0.1:{free_port()}"
        try:
            runs.append(measure(wav, url))
        finally:
            if broker is not None:
                broker.stop()
    report = {"command": "edge-ser serve --source room.wav --realtime [--mqtt URL]",
              "models": "bundled", "seconds": a.seconds, "clients": "4 event streams + poller",
              "limit_mib": LIMIT_MIB, "runs": runs}
    if a.screenshot:
        screenshot(a.screenshot)
        report["screenshot"] = str(a.screenshot)
    text = json.dumps(report, indent=2)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    if a.json:
        print(text)
    else:
        for r in runs:
            print(f"peak RSS {r['peak_rss_mib']:.1f} MiB (limit {LIMIT_MIB:g})"
                  f"{' with --mqtt ' + r['mqtt'] if r['mqtt'] else ''}: {r['summary']}")
    if not all(r["within_limit"] for r in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
