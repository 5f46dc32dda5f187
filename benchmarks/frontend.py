"""NumPy front end vs librosa: steady-state time per call and whole-process cold start.

    python benchmarks/frontend.py            # human-readable
    python benchmarks/frontend.py --json     # machine-readable (one JSON object)

Both sides compute the same features (``cfg.librosa_kwargs``) of the same generated audio in
the same process, interleaved call by call so that machine load hits both alike; the figure
is the median over ``--runs`` calls (the minimum is reported too). The cold figure is the
wall time of a fresh ``python -c`` that imports the library and computes one MFCC of 3 s,
which is what a Raspberry Pi pays at every start. Targets: 3 s MFCC ratio ours/librosa <= 1.0
and cold start >= 10x faster.

BLAS is pinned to one thread (OPENBLAS_NUM_THREADS etc., unless already set in the
environment): librosa's mel product otherwise spreads a tiny matrix product over threads,
and on a busy machine its median then mostly measures thread contention (10-20x slower).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy is imported; inherited by cold runs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from edge.frontend import FrontendConfig, compute_features  # noqa: E402

AUDIO_EXPR = ("(0.3*np.sin(2*np.pi*np.cumsum(np.linspace(120,220,{n}))/16000)"
              "+0.01*np.random.default_rng(0).standard_normal({n})).astype(np.float32)")


def make_audio(seconds: float, sr: int = 16000) -> np.ndarray:
    n = int(seconds * sr)
    return eval(AUDIO_EXPR.format(n=n), {"np": np})  # same expression as the cold runs


def interleaved(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, dict[str, float]]:
    """Median and min (ms) of each function, calls interleaved round-robin."""
    for f in fns.values():  # warm-up: caches, JIT, allocator
        f()
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: {"median_ms": statistics.median(v), "min_ms": min(v)} for k, v in times.items()}


def librosa_fns(y: np.ndarray, cfg: FrontendConfig) -> dict[str, Callable[[], object]]:
    import librosa

    mel_kw = cfg.librosa_kwargs("logmel")
    db_kw = cfg.librosa_kwargs("power_to_db")
    return {
        "mfcc": lambda: librosa.feature.mfcc(y=y, **cfg.librosa_kwargs("mfcc")),
        "logmel": lambda: librosa.power_to_db(librosa.feature.melspectrogram(y=y, **mel_kw),
                                              **db_kw),
        "chroma": lambda: librosa.feature.chroma_stft(y=y, **cfg.librosa_kwargs("chroma")),
        "pitch": lambda: librosa.yin(y, **cfg.librosa_kwargs("pitch")),
    }


def cold(code: str, runs: int) -> dict[str, float]:
    """Median and min wall time (s) of fresh interpreters running ``code``."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                             text=True)
        times.append(time.perf_counter() - t0)
        if out.returncode != 0:
            raise SystemExit(f"cold run failed:\n{out.stderr}")
    return {"median_s": statistics.median(times), "min_s": min(times)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200, help="steady-state calls per measurement")
    ap.add_argument("--cold-runs", type=int, default=5, help="fresh processes per side")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)

    import librosa

    cfg = FrontendConfig()
    result: dict[str, Any] = {
        "python": platform.python_version(), "numpy": np.__version__,
        "librosa": librosa.__version__, "machine": platform.machine(), "runs": args.runs,
        "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
        "config": {k: cfg.to_dict()[k] for k in ("sr", "n_fft", "win_length", "hop_length",
                                                  "n_mels", "n_mfcc")},
        "steady": {}, "other_kinds_3s": {}, "cold": {},
    }
    for seconds in (1.0, 3.0):
        y = make_audio(seconds)
        ref = librosa_fns(y, cfg)["mfcc"]
        r = interleaved({"ours": lambda y=y: compute_features(y, cfg, "mfcc"), "librosa": ref},
                        args.runs)
        r["ratio"] = r["ours"]["median_ms"] / r["librosa"]["median_ms"]
        r["ratio_min"] = r["ours"]["min_ms"] / r["librosa"]["min_ms"]
        result["steady"][f"{seconds:g}s"] = r

    y = make_audio(3.0)
    lib = librosa_fns(y, cfg)
    runs_other = max(20, args.runs // 4)
    for kind in ("logmel", "chroma", "pitch"):
        r = interleaved({"ours": lambda kind=kind: compute_features(y, cfg, kind),
                         "librosa": lib[kind]}, runs_other)
        r["ratio"] = r["ours"]["median_ms"] / r["librosa"]["median_ms"]
        result["other_kinds_3s"][kind] = r
    all_kind = "mfcc_dd+logmel+chroma+pitch+rms+zcr"
    result["other_kinds_3s"]["all_bases_ours"] = interleaved(
        {"ours": lambda: compute_features(y, cfg, all_kind)}, runs_other)["ours"]

    audio = AUDIO_EXPR.format(n=48000)
    ours_code = ("import numpy as np\nfrom edge.frontend import FrontendConfig, compute_features\n"
                 f"y = {audio}\ncompute_features(y, FrontendConfig(), 'mfcc')\n")
    kwargs = cfg.librosa_kwargs("mfcc")
    lib_code = (f"import numpy as np\nimport librosa\ny = {audio}\n"
                f"librosa.feature.mfcc(y=y, **{kwargs!r})\n")
    result["cold"]["python_numpy_only"] = cold("import numpy", args.cold_runs)
    result["cold"]["ours"] = cold(ours_code, args.cold_runs)
    result["cold"]["librosa"] = cold(lib_code, args.cold_runs)
    result["cold"]["speedup"] = (result["cold"]["librosa"]["median_s"]
                                 / result["cold"]["ours"]["median_s"])
    result["targets"] = {
        "steady_3s_ratio_le_1": result["steady"]["3s"]["ratio"] <= 1.0,
        "cold_speedup_ge_10": result["cold"]["speedup"] >= 10.0,
    }

    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"edge-ser front end vs librosa {result['librosa']} (numpy {result['numpy']}, "
          f"Python {result['python']}, {result['machine']}, "
          f"BLAS threads {result['blas_threads']})")
    c = result["config"]
    print(f"MFCC: sr {c['sr']}, n_fft {c['n_fft']}, win {c['win_length']}, hop {c['hop_length']},"
          f" {c['n_mels']} mels, {c['n_mfcc']} coefficients")
    print(f"\nsteady state, median of {args.runs} interleaved calls (min in brackets):")
    for name, r in result["steady"].items():
        print(f"  mfcc {name:>3}: ours {r['ours']['median_ms']:7.3f} ms ({r['ours']['min_ms']:.3f})"
              f"   librosa {r['librosa']['median_ms']:7.3f} ms ({r['librosa']['min_ms']:.3f})"
              f"   ratio ours/librosa {r['ratio']:.2f} ({r['ratio_min']:.2f})")
    print(f"\nother kinds, 3 s, median of {runs_other} calls (for information):")
    for name, r in result["other_kinds_3s"].items():
        if "ours" in r:
            print(f"  {name:<7}   ours {r['ours']['median_ms']:7.3f} ms   librosa "
                  f"{r['librosa']['median_ms']:7.3f} ms   ratio {r['ratio']:.2f}")
        else:
            print(f"  {all_kind} (ours, all six bases + deltas): {r['median_ms']:.3f} ms")
    cd = result["cold"]
    print(f"\ncold process (fresh python: import + one 3 s MFCC), median of {args.cold_runs}:")
    print(f"  python + numpy alone {cd['python_numpy_only']['median_s']:.3f} s")
    print(f"  ours    {cd['ours']['median_s']:.3f} s")
    print(f"  librosa {cd['librosa']['median_s']:.3f} s   -> ours is {cd['speedup']:.1f}x faster")
    t = result["targets"]
    print(f"\ntargets: 3 s steady ratio <= 1.0: {'PASS' if t['steady_3s_ratio_le_1'] else 'FAIL'};"
          f" cold >= 10x: {'PASS' if t['cold_speedup_ge_10'] else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
