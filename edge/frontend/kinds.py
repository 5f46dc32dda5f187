"""Feature kinds: names for what a member sees, and their sizes.

A kind is one or more base features joined by ``+``, e.g. ``"mfcc"``, ``"logmel"`` or
``"mfcc_d+chroma+pitch+rms"``. A suffix ``_d`` appends the first delta, ``_dd`` the first and
second deltas (``librosa.feature.delta`` over ``delta_width`` frames, computed per window).
A suffix ``_r`` before them (``mfcc_r``, ``logmel_r_d``, ``rms_r``; the bases in
:data:`LEVEL_BASES` only) takes the window's own level out of the base, so that the member
never sees how loud the microphone is (:func:`edge.frontend.features.relative_level`).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.errors import ConfigError
from edge.frontend.config import BASE_KINDS, FrontendConfig
from edge.frontend.spectral import SHAPE_NAMES

#: The bases that carry the absolute level (a gain moves them), which ``_r`` can take out.
LEVEL_BASES: tuple[str, ...] = ("mfcc", "logmel", "rms")


@dataclass(frozen=True)
class KindPart:
    base: str
    delta_order: int  # 0: none, 1: + delta, 2: + delta and delta-delta
    relative: bool = False  # ``_r``: the window's level taken out (before the deltas)


def parse_kind(kind: str) -> tuple[KindPart, ...]:
    """Split a kind name into its parts; raise ConfigError if any part is unknown."""
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"feature kind must be a non-empty string, got {kind!r}")
    parts = []
    for name in kind.split("+"):
        order = 0
        base = name
        if name.endswith("_dd"):
            base, order = name[:-3], 2
        elif name.endswith("_d"):
            base, order = name[:-2], 1
        relative = base.endswith("_r") and base[:-2] in LEVEL_BASES
        if relative:
            base = base[:-2]
        if base not in BASE_KINDS:
            raise ConfigError(
                f"unknown feature {name!r} in kind {kind!r} (known: {', '.join(BASE_KINDS)},"
                f" each optionally with _d or _dd; {', '.join(LEVEL_BASES)} also with _r)"
            )
        parts.append(KindPart(base, order, relative))
    bases = [p.base for p in parts]
    if len(set(bases)) != len(bases):
        raise ConfigError(f"feature kind {kind!r} names a base feature twice")
    return tuple(parts)


def base_dim(cfg: FrontendConfig, base: str) -> int:
    """Values per frame of one base feature."""
    dims = {
        "mfcc": cfg.n_mfcc,
        "logmel": cfg.n_mels,
        "chroma": cfg.n_chroma,
        "rms": 1,
        "flatness": 1,
        "zcr": 1,
        "pitch": 1,
        "shape": len(SHAPE_NAMES),
    }
    try:
        return dims[base]
    except KeyError:
        raise ConfigError(f"unknown base feature {base!r}") from None


def feature_dim(cfg: FrontendConfig, kind: str) -> int:
    """Values per frame of a (possibly composite) kind."""
    return sum(base_dim(cfg, p.base) * (1 + p.delta_order) for p in parse_kind(kind))


def base_columns(cfg: FrontendConfig, kind: str) -> dict[str, int]:
    """The first column of each base feature in ``kind``'s frames (the order ``assemble``
    writes them: the kind's parts, each followed by its deltas)."""
    out, at = {}, 0
    for part in parse_kind(kind):
        out[part.base] = at
        at += base_dim(cfg, part.base) * (1 + part.delta_order)
    return out


def base_kinds_of(kinds: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The base features a set of kinds needs, in canonical order (computed once each)."""
    needed = {p.base for k in kinds for p in parse_kind(k)}
    return tuple(b for b in BASE_KINDS if b in needed)
