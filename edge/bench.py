"""``edge-ser bench``: what the device pays per decision, measured on the real pipeline.

Per stage and per window (front end, each member, vote, decisions) the median, p95 and p99
wall time; the real-time factor of the whole stream; model load time; the cold start of a
fresh ``edge-ser classify`` process (what a cron job or a button press pays); and peak RSS of
that process and of this one. With ``--compare-float`` the librosa + Keras float path
(``benchmarks/float_path.py``, run in its own process so TensorFlow never enters this one)
classifies the same audio, and the ratios are printed.

Targets (reported, never asserted in tests): 1 thread, the shipped ensemble, 3 s window: front end +
members + vote <= 3 ms per window; peak RSS <= 45 MB; cold classify <= 0.3 s; >= 100x faster
and >= 10x less memory than the float path.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge.deps import check
from edge.errors import MissingDependencyError, ModelError, error_for_exit_status

TARGETS = {"window_ms": 3.0, "peak_rss_mb": 45.0, "cold_classify_s": 0.3,
           "speedup_vs_float": 100.0, "memory_ratio_vs_float": 10.0}
FLOAT_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "float_path.py"


def bench_audio(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Speech-like audio: voiced syllables (gliding harmonic f0) with short pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = 0.0005 * rng.standard_normal(n)
    pos = int(0.1 * sr)
    while pos < n:
        length = int(rng.uniform(0.15, 0.3) * sr)
        seg = min(length, n - pos)
        t = np.arange(seg) / sr
        f0 = rng.uniform(100, 300) * (1 + 0.05 * t)
        phase = 2 * np.pi * np.cumsum(f0) / sr
        voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
        env = np.sin(np.pi * np.arange(seg) / length) ** 0.6
        y[pos:pos + seg] += 10 ** (rng.uniform(-24, -10) / 20) * env * voiced / 3
        pos += length + int(rng.uniform(0.05, 0.15) * sr)
    return np.clip(y, -1, 1).astype(np.float32)


# Runs `edge-ser` in a child that reports its own peak RSS (VmHWM) when it exits, and how much
# of its RSS then is anonymous (its own memory) and file-backed (shared library pages: since
# Linux 6.18 a fault maps the whole large page-cache folio around it, so this part depends on
# how the libraries came into the page cache, not on edge-ser). getrusage cannot tell: Linux
# carries ru_maxrss across fork + exec, so every child of this (large) process would report at
# least this process's size.
_HWM_CHILD = """
import atexit, sys
def _report(path=sys.argv[1]):
    try:
        with open("/proc/self/status") as fh:
            kib = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in fh)
                   if k in ("VmHWM", "RssAnon", "RssFile")}
        text = f"{kib['VmHWM']} {kib.get('RssAnon', 0)} {kib.get('RssFile', 0)}"
    except (OSError, KeyError, ValueError):
        import resource
        text = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} 0 0"
    with open(path, "w") as out:
        out.write(text)
atexit.register(_report)
from edge.cli import main
sys.exit(main(sys.argv[2:]))
"""


def installed_env(pycache: Path) -> tuple[dict[str, str], str]:
    """The environment a fresh ``edge-ser`` process runs in once installed, and how its
    bytecode was found.

    An installed edge-ser runs from compiled bytecode (``pip install`` and ``setup_edge.sh``
    compile it; Python writes it at the first run otherwise). With PYTHONDONTWRITEBYTECODE set
    (some CI and container images), every child would compile edge-ser from source at each
    start, which a device never does: it costs ~5 MB of RSS and a fifth of the cold start. Then
    the children keep their bytecode in ``pycache`` (a folder of this run, never the install).
    """
    env = dict(os.environ)
    if not (sys.flags.dont_write_bytecode or env.get("PYTHONDONTWRITEBYTECODE")):
        return env, "as found"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env, "compiled once into a temporary cache (PYTHONDONTWRITEBYTECODE is set here)"


def _run_cli(args: list[str], env: dict[str, str] | None = None) -> tuple[float, list[int]]:
    """Run ``edge-ser ARGS`` in a fresh process; return (wall seconds, [its peak RSS, its
    anonymous and file-backed RSS at exit], all in KiB)."""
    with tempfile.NamedTemporaryFile(prefix="edge-ser-hwm-", delete=False) as fh:
        report = Path(fh.name)
    try:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _HWM_CHILD, str(report), *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300,
                              env=env)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise error_for_exit_status(
                proc.returncode, f"benchmark subprocess `edge-ser {' '.join(args[:2])}` failed: "
                f"{err.splitlines()[-1] if err else proc.returncode}")
        return wall, [int(v) for v in (report.read_text() or "0 0 0").split()]
    finally:
        report.unlink(missing_ok=True)


def _cold_start(args: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of the real entry point, ``python -m edge.cli ARGS``."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "edge.cli", *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=300, env=env)
    if proc.returncode != 0:
        raise error_for_exit_status(
            proc.returncode, f"benchmark subprocess `edge-ser {' '.join(args[:2])}` failed with "
            f"exit status {proc.returncode}")
    return time.perf_counter() - t0


def _self_rss_kib() -> int:
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_bench(models_dir: Path, seconds: float = 3.0, threads: int = 1,
              compare_float: bool = False, backend: str = "auto", cold_runs: int = 5,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure everything; return a JSON-ready dict (see :func:`format_report`).

    ``seconds`` is the time spent in the per-window loop (at least 200 windows are run).
    """
    from edge.interpreter import load_members
    from edge.manifest import load_manifest
    from edge.pipeline import Pipeline
    from edge.timing import StageTimer
    from edge.wav import write_wav

    say = progress or (lambda _msg: None)
    models_dir = Path(models_dir)
    manifest = load_manifest(models_dir)
    sr = manifest.frontend.sr
    if compare_float:  # before measuring anything: a missing piece must not cost the run
        _float_preflight(models_dir, [mb.name for mb in manifest.members])

    # ---- load time ---------------------------------------------------------------------
    loads, manifest_loads = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        m = load_manifest(models_dir)
        t1 = time.perf_counter()
        members = load_members(m, num_threads=threads, backend=backend)
        loads.append(time.perf_counter() - t1)
        manifest_loads.append(t1 - t0)
    backend_name = members[0].backend

    # ---- streaming windows ----------------------------------------------------------------
    say("streaming windows ...")
    pipe = Pipeline(manifest, members, run_on_silence=True, timer=StageTimer())
    hop = round(pipe.hop_seconds * sr)
    audio = bench_audio(max(20.0, 4 * manifest.window.seconds), sr)
    pos = 0

    def feed(n_windows: int | None, budget: float | None) -> tuple[int, float, int]:
        nonlocal pos
        done, spent, samples = 0, 0.0, 0
        t_end = time.perf_counter() + (budget or 0)
        while (n_windows is not None and done < n_windows) or (
                budget is not None and (time.perf_counter() < t_end or done < 200)):
            if pos + hop > audio.size:
                pos = 0
            chunk = audio[pos:pos + hop]
            pos += hop
            t0 = time.perf_counter()
            done += len(pipe.push(chunk))
            spent += time.perf_counter() - t0
            samples += chunk.size
        return done, spent, samples

    warm = manifest.window.frames // pipe.hop_frames + 5
    feed(warm, None)
    pipe.timer.reset()
    n_windows, spent, samples = feed(None, seconds)
    stages = pipe.timer.summary()
    member_stats = {k.split(":", 1)[1]: v for k, v in stages.items() if k.startswith("member:")}
    rtf = spent / (samples / sr)

    # ---- cold start and peak memory of a fresh classify ------------------------------------
    say("cold start of `edge-ser classify` ...")
    with tempfile.TemporaryDirectory(prefix="edge-ser-bench-") as tmp:
        wav = Path(tmp) / "bench.wav"
        write_wav(wav, audio[: int(manifest.window.seconds * sr)], sr)
        args = ["classify", str(wav), "--models", str(models_dir)]
        env, bytecode = installed_env(Path(tmp) / "pycache")
        _cold_start(args, env)  # not counted: compiles the bytecode where nothing had
        cold = [_cold_start(args, env) for _ in range(max(1, cold_runs))]
        classify_rss, classify_anon, classify_file = max(_run_cli(args, env)[1]
                                                         for _ in range(2))
        float_result = None
        if compare_float:
            say("float path (librosa + Keras) ...")
            float_result = _run_float(models_dir, wav, seconds, pipe.hop_seconds)

    report: dict[str, Any] = {
        "models": str(models_dir),
        "fixture": bool(manifest.metadata.get("created_by", "").startswith("tests/")),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "backend": backend_name,
        "threads": threads,
        "members": len(manifest.members),
        "window_seconds": manifest.window.seconds,
        "hop_seconds": pipe.hop_seconds,
        "windows": n_windows,
        "stages_ms": {k: v for k, v in stages.items() if not k.startswith("member:")},
        "members_ms": member_stats,
        "real_time_factor": rtf,
        "load_ms": {"manifest_median": 1e3 * float(np.median(manifest_loads)),
                    "members_median": 1e3 * float(np.median(loads))},
        "cold_classify_s": {"median": float(np.median(cold)), "min": float(min(cold)),
                            "runs": len(cold), "bytecode": bytecode},
        "peak_rss_mb": {"classify_process": classify_rss / 1024,
                        "classify_anon_at_exit": classify_anon / 1024,
                        "classify_file_at_exit": classify_file / 1024,
                        "bench_process": _self_rss_kib() / 1024},
        "targets": TARGETS,
    }
    if float_result is not None:
        edge_ms = stages["window"]["median_ms"]
        report["float"] = float_result
        report["ratios"] = {
            "speedup": float_result["window_ms"]["median"] / edge_ms,
            "memory": float_result["peak_rss_mb"] / report["peak_rss_mb"]["classify_process"],
        }
    return report


#: What benchmarks/float_path.py imports (import names); checked before any measurement.
FLOAT_REQUIRES = ("librosa", "tensorflow", "tf_keras")


def _float_preflight(models_dir: Path, members: list[str]) -> None:
    """Everything ``--compare-float`` needs, checked up front (the float path runs last)."""
    if not FLOAT_PATH.is_file():
        raise MissingDependencyError(
            f"--compare-float needs {FLOAT_PATH.relative_to(FLOAT_PATH.parents[1])} from a source "
            "checkout of edge-ser")
    check(FLOAT_REQUIRES, "--compare-float (the float path is librosa + Keras)",
          "pip install -r requirements-train.txt")
    float_dir = models_dir / "float"
    absent = [m for m in members
              if not any((float_dir / f"{m}{ext}").is_file() for ext in (".h5", ".keras"))]
    if absent:
        raise ModelError(f"--compare-float needs the float Keras members beside the int8 ones; "
                         f"{float_dir} has none for {', '.join(absent)}")


def _run_float(models_dir: Path, wav: Path, seconds: float, hop_seconds: float) -> dict[str, Any]:
    cmd = [sys.executable, str(FLOAT_PATH), "--models", str(models_dir), "--wav", str(wav),
           "--seconds", str(seconds), "--hop", str(hop_seconds), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        msg = last.removeprefix("edge-ser: error: ")
        if proc.returncode != MissingDependencyError.exit_code:
            msg = f"float path failed: {msg}"
        raise error_for_exit_status(proc.returncode, msg)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def format_report(r: dict[str, Any]) -> str:
    """The human-readable report (``--json`` prints the dict instead)."""
    t = r["targets"]
    lines = [
        f"edge-ser bench: {r['models']}" + ("  [FIXTURE models: figures say nothing about the "
                                             "real ensemble]" if r["fixture"] else ""),
        f"  {r['machine']}, Python {r['python']}, {r['backend']}, {r['threads']} thread(s), "
        f"{r['members']} members, window {r['window_seconds']:g} s, hop {r['hop_seconds']:g} s, "
        f"{r['windows']} windows",
        "",
        f"  {'stage (per window)':<28}{'median':>9}{'p95':>9}{'p99':>9}  ms",
    ]

    def row(name: str, s: dict[str, float]) -> str:
        return f"  {name:<28}{s['median_ms']:9.3f}{s['p95_ms']:9.3f}{s['p99_ms']:9.3f}"

    stages = r["stages_ms"]
    if "frontend" in stages:
        lines.append(row("front end", stages["frontend"]))
    for name, s in r["members_ms"].items():
        lines.append(row(f"  member {name}", s))
    for key, name in (("members", "members (all)"), ("vote", "vote"), ("decide", "decisions"),
                      ("window", "TOTAL per window")):
        if key in stages:
            lines.append(row(name, stages[key]))
    w = stages.get("window", {}).get("median_ms", float("nan"))
    rss = r["peak_rss_mb"]["classify_process"]
    cold = r["cold_classify_s"]["median"]
    lines += [
        "",
        f"  real-time factor          {r['real_time_factor']:.5f}  "
        f"({1 / max(r['real_time_factor'], 1e-12):,.0f}x faster than real time)",
        f"  model load                {r['load_ms']['members_median']:.1f} ms "
        f"(+ manifest and checksums {r['load_ms']['manifest_median']:.1f} ms)",
        f"  cold `edge-ser classify`  {cold:.3f} s median of {r['cold_classify_s']['runs']} "
        f"(bytecode {r['cold_classify_s'].get('bytecode', 'as found')})",
        f"  peak RSS                  classify process {rss:.1f} MB, "
        f"bench process {r['peak_rss_mb']['bench_process']:.1f} MB",
        f"    classify RSS at exit    {r['peak_rss_mb']['classify_anon_at_exit']:.1f} MB its own "
        f"(anonymous) + {r['peak_rss_mb']['classify_file_at_exit']:.1f} MB shared library pages",
        "",
        "  targets: " + ", ".join([
            _check(f"window {w:.2f} ms <= {t['window_ms']:g}", w <= t["window_ms"]),
            _check(f"RSS {rss:.0f} MB <= {t['peak_rss_mb']:g}", rss <= t["peak_rss_mb"]),
            _check(f"cold {cold:.2f} s <= {t['cold_classify_s']:g}", cold <= t["cold_classify_s"]),
        ]),
    ]
    if "float" in r:
        f, q = r["float"], r["ratios"]
        lines += [
            "",
            f"  float path (librosa {f.get('librosa', '?')} + Keras, TensorFlow "
            f"{f.get('tensorflow', '?')}): {f['window_ms']['median']:.2f} ms per window "
            f"(features {f['features_ms']['median']:.2f}, members {f['members_ms']['median']:.2f}),"
            f" peak RSS {f['peak_rss_mb']:.0f} MB, agreement with int8 {f.get('agreement', '?')}",
            "  ratios: " + ", ".join([
                _check(f"{q['speedup']:.0f}x faster (>= {t['speedup_vs_float']:g}x)",
                       q["speedup"] >= t["speedup_vs_float"]),
                _check(f"{q['memory']:.1f}x less memory (>= {t['memory_ratio_vs_float']:g}x)",
                       q["memory"] >= t["memory_ratio_vs_float"]),
            ]),
        ]
    return "\n".join(lines)


def _check(text: str, ok: bool) -> str:
    return f"{text} {'OK' if ok else 'MISSED'}"
