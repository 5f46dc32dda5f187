"""Where models live: the bundled default ensemble, or a folder the user names."""

from __future__ import annotations

import os
from pathlib import Path

from edge.errors import ModelError
from edge.manifest import MANIFEST_NAME, Manifest

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent / "default"
MODELS_ENV = "EDGE_SER_MODELS"


def resolve_models_dir(models: str | os.PathLike[str] | None) -> Path:
    """``--models`` if given, else ``$EDGE_SER_MODELS``, else the bundled default models."""
    if models is not None:
        return Path(models)
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env)
    if not (DEFAULT_MODELS_DIR / MANIFEST_NAME).is_file():
        raise ModelError(
            "no default models are bundled with this installation; give --models DIR "
            "(a folder written by `edge-ser convert`)"
        )
    return DEFAULT_MODELS_DIR


def _stream(m: Manifest, key: str) -> str:
    """A feature stream for `info`: its kind and size, and how it differs from the window."""
    f = m.features[key]
    own = [f"kind {f.kind}"] if f.kind != key else []
    if f.fill is not None and f.fill != m.window.fill:
        own.append("whole windows" if f.fill == "none" else "silence filled with speech")
    return f"{key} ({f.dim}{'; ' if own else ''}{'; '.join(own)})"


def describe_manifest(m: Manifest) -> str:
    """A human-readable summary for `edge-ser info`."""
    lines = [
        f"models:   {m.root}",
        f"manifest: version {m.version}",
        f"labels:   {', '.join(m.labels)}",
        f"window:   {m.window.seconds:g} s ({m.window.frames} frames), "
        f"hop {m.window.hop_seconds:g} s"
        + (", silence filled with the window's speech" if m.window.fill == "speech" else ""),
        f"voting:   {m.voting}",
        f"front end: sr={m.frontend.sr} n_fft={m.frontend.n_fft} win={m.frontend.win_length} "
        f"hop={m.frontend.hop_length} n_mels={m.frontend.n_mels} n_mfcc={m.frontend.n_mfcc}",
        f"features: {', '.join(_stream(m, k) for k in m.features)}",
        f"members:  {len(m.members)}",
    ]
    total = 0
    for mb in m.members:
        size = m.member_path(mb).stat().st_size if m.root else 0
        total += size
        q = mb.input.quantization
        quant = f" q(scale={q.scale:.4g}, zp={q.zero_point})" if q else ""
        lines.append(
            f"  - {mb.name}: {mb.file} {size / 1024:.1f} KiB, {mb.feature}, "
            f"in {list(mb.input.shape)} {mb.input.dtype}{quant}, out {mb.output.dtype}, "
            f"weight {mb.weight:g}, sha256 {mb.sha256[:12]}…"
        )
    lines.append(f"total size: {total / 1024:.1f} KiB")
    from edge.evaluation import training_speakers  # info only: not on the device's path

    training = training_speakers(m)
    lines.append(f"trained on: {training.describe() if training else 'not recorded'}"
                 + ("" if m.training is not None or training is None
                    else " (corpus not recorded)"))
    sp, vad = m.speech, m.speech.vad
    lines.append(f"speech:   a window is classified with >= {sp.min_speech_fraction:g} speech "
                 f"frames; a file without speech is scored by {sp.no_speech}; VAD "
                 f"{vad.threshold_db:g} dB over the noise floor, floor {vad.min_level_dbfs:g} "
                 "dBFS")
    if sp.level_dbfs is not None:
        lines.append(f"level:    trained on speech at {sp.level_dbfs[0]:g} to {sp.level_dbfs[1]:g} "
                     "dBFS (`classify --json` gives a recording's level_dbfs)")
    if (cg := m.condition_gate) is not None:
        lines.append(f"condition gate: {', '.join(cg.clean_members)} vote alone on windows that "
                     f"sound clean (a detector of rooms and noise on {', '.join(cg.streams)})")
    en = m.enrolment
    lines.append("enrolment: " + ("not recorded (global features, no prior correction: a "
                                  "speaker profile changes nothing)" if en is None else
                 f"features {en.features} (fallback {en.fallback}), prior {en.prior}"
                 + (f" {en.prior_strength:g}" if en.prior == "divide" else "")
                 + f", at least {en.min_speech_seconds:g} s of speech"))
    pre = m.preprocessing
    lines.append("preprocessing: " + ("not recorded" if pre is None else
                 f"loudness {pre.loudness}, denoise {'on' if pre.denoise else 'off'}, "
                 f"resampler {pre.resampler}"))
    for key, value in m.metadata.items():
        if isinstance(value, (str, int, float)):
            lines.append(f"{key}: {value}")
    return "\n".join(lines)
