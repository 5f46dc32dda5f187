"""Combine the members' class probabilities into one vector.

* ``hard``: each member votes for its top class; the result is the vote share, so its argmax
  is the majority. Ties are broken by the members' summed probabilities, which enter as a
  tie breaker too small to outweigh one vote.
* ``soft``: the mean of the probability vectors.
* ``weighted``: a weighted mean, weights from the manifest (e.g. each member's validation UAR).

Every rule returns a probability vector (non-negative, sums to 1), so decisions downstream do
not care which rule made it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.errors import ModelError

RULES = ("hard", "soft", "weighted")
_TIE_BREAK = 1e-3  # < 1 vote / n_members for any realistic ensemble size


def _normalised(p: np.ndarray) -> np.ndarray:
    """Each row clipped at 0 and scaled to sum 1 (uniform where nothing is left), float32."""
    p = np.clip(p, 0.0, None)
    total = p.sum(axis=-1, keepdims=True)
    uniform = np.full(p.shape, 1.0 / p.shape[-1])
    out = np.divide(p, total, out=uniform, where=total > 0.0)
    return out.astype(np.float32)


def vote(
    probs: Sequence[np.ndarray] | np.ndarray,
    rule: str = "soft",
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """One probability vector from ``probs`` (``[members, classes]``) under ``rule``."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"need a [members, classes] array, got shape {p.shape}")
    return vote_windows(p[:, None, :], rule, weights)[0]


class Voter:
    """The manifest's voting rule and weights, bound once."""

    def __init__(self, rule: str, weights: Sequence[float] | None = None) -> None:
        if rule not in RULES:
            raise ModelError(f"unknown voting rule {rule!r} (known: {', '.join(RULES)})")
        self.rule = rule
        self.weights = None if weights is None else [float(w) for w in weights]

    def __call__(self, probs: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        return vote(probs, self.rule, self.weights)


def vote_windows(
    member_probs: Sequence[np.ndarray] | np.ndarray,
    rule: str = "soft",
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """``[members, windows, classes]`` → ``[windows, classes]`` float32: every window voted
    under ``rule`` (vectorised; :func:`vote` is its one-window case).

    The device, training reports and conversion checks all vote through this one function,
    so they measure the rule the device applies, not a look-alike.
    """
    p = np.asarray(member_probs, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] == 0 or p.shape[2] == 0:
        raise ValueError(f"need a [members, windows, classes] array, got shape {p.shape}")
    n_members, _, n_classes = p.shape
    if rule == "soft":
        return _normalised(p.mean(axis=0))
    if rule == "weighted":
        if weights is None or len(weights) != n_members:
            raise ModelError(f"weighted voting needs one weight per member ({n_members})")
        w = np.asarray(weights, dtype=np.float64)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ModelError("weighted voting needs finite weights >= 0 with a positive sum")
        return _normalised((w[:, None, None] * p).sum(axis=0) / w.sum())
    if rule == "hard":
        top = p.argmax(axis=2)  # [members, windows]
        counts = (top[..., None] == np.arange(n_classes)).sum(axis=0).astype(np.float64)
        tie_break = p.sum(axis=0) / n_members  # in [0, 1] per class
        return _normalised(counts + _TIE_BREAK * tie_break)
    raise ModelError(f"unknown voting rule {rule!r} (known: {', '.join(RULES)})")
