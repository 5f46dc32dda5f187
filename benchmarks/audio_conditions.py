"""Audio changed as a microphone, a line or a room would change it, for the benchmarks that
score models on changed corpora (``--condition``).

- ``telephone``: a narrowband line, 300–3400 Hz (edges jittered);
- ``cheap_mic``: a rumble high-pass, a presence peak or dip, a spectral tilt;
- ``reverb``: a generated room, RT60 0.2–0.7 s;
- ``noise:SNR``: pink-ish noise SNR dB under the speech;
- ``gain:DB``: level, clipped like an int16 ADC.

The training augmentation's own functions make them (one definition of each change), with a
generator fixed per file, so a rerun changes every file the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: ``transform(samples, sr, path)``: the changed samples.
Transform = Callable[[np.ndarray, int, str], np.ndarray]


def condition(spec: str) -> Transform:
    """The audio change ``spec`` names (see the module docstring)."""
    from benchmarks.cv_int8 import apply_gain
    from train import augment

    name, _, arg = spec.partition(":")
    try:
        value = float(arg) if arg else None
    except ValueError:
        raise SystemExit(f"error: --condition {spec}: {arg!r} is not a number") from None
    if name in ("telephone", "cheap_mic", "reverb") and value is None:
        return augment.per_file(getattr(augment, name), 0, 20)
    if name == "noise" and value is not None:
        return augment.per_file(lambda y, sr, rng: augment.add_noise(y, value, rng), 0, 20)
    if name == "gain" and value is not None:
        return lambda y, sr, path: apply_gain(y, value)
    raise SystemExit(f"error: unknown --condition {spec!r} (telephone, cheap_mic, reverb, "
                     "noise:SNR, gain:DB)")


def changed_table(first: str, rows: dict[str, dict[str, float | None]], specs: list[str],
                  mean: bool = True) -> list[str]:
    """A markdown table of ``rows[name]["clean"]`` and ``rows[name][spec]`` (fractions), each
    changed figure with its change against clean in points (``–`` where a row lacks it), and
    with ``mean`` their mean row."""
    lines = [f"| {first} | clean | " + " | ".join(specs) + " |",
             "|---|---|" + "---|" * len(specs)]
    table = dict(rows)
    if mean:
        table["mean"] = {k: float(np.mean([r[k] for r in rows.values()]))
                         for k in ["clean", *specs]}
    for name, r in table.items():
        cells = ["–" if r.get(c) is None else
                 f"{100 * r[c]:.1f} ({100 * (r[c] - r['clean']):+.1f})" for c in specs]
        lines.append(f"| {name} | {100 * r['clean']:.1f} | " + " | ".join(cells) + " |")
    return lines
