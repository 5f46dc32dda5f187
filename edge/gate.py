"""The condition gate: how much of a window's vote goes to the members made for clean audio.

Why: the kernels that reach furthest across corpora and languages (the ``rbf`` members) lose
12 points in a room and 6 at 20 dB SNR, where the whole ensemble loses 3 and 2. A small
logistic detector on the window's statistics (the manifest's ``condition_gate``, fitted on rooms and
noise generated over training corpora by ``edge-ser condition-gate``) says how likely the window is
degraded, ``d``; the vote is ``(1 - d) * clean + d * all``, where ``clean`` is the soft vote of
the gate's clean members and ``all`` the manifest's own vote.
"""

from __future__ import annotations

import numpy as np

from edge.manifest import ConditionGateSpec, Manifest
from edge.vote import vote


def window_statistics(x: np.ndarray) -> np.ndarray:
    """``[frames, dim]`` → mean, standard deviation and mean absolute frame-to-frame change
    of each coefficient (``GATE_STATISTICS``), float64. Noise fills the spectrum's valleys and
    lifts its floor; a room smears each frame into the next, so the change shrinks."""
    x = np.asarray(x, dtype=np.float64)
    delta = np.abs(np.diff(x, axis=0)).mean(axis=0) if len(x) > 1 else np.zeros(x.shape[1])
    return np.concatenate([x.mean(axis=0), x.std(axis=0), delta])


def gate_inputs(feats: dict[str, np.ndarray], streams: tuple[str, ...]) -> np.ndarray:
    """The gate's input vector: :func:`window_statistics` of each of its streams, in order."""
    return np.concatenate([window_statistics(feats[s]) for s in streams])


class ConditionGate:
    """A manifest's gate, bound to its member order."""

    def __init__(self, manifest: Manifest, spec: ConditionGateSpec) -> None:
        self.spec = spec
        names = [mb.name for mb in manifest.members]
        self.clean = np.array([names.index(n) for n in spec.clean_members])
        self._mean = np.asarray(spec.mean, dtype=np.float64)
        self._std = np.asarray(spec.std, dtype=np.float64)
        self._coef = np.asarray(spec.coef, dtype=np.float64)

    def degraded(self, feats: dict[str, np.ndarray]) -> float:
        """The probability that the window was heard in a room or in noise."""
        z = (gate_inputs(feats, self.spec.streams) - self._mean) / self._std
        logit = float(np.clip(z @ self._coef + self.spec.bias, -60.0, 60.0))
        return 1.0 / (1.0 + np.exp(-logit))

    def mix(self, outs: np.ndarray, voted: np.ndarray, d: float) -> np.ndarray:
        """``(1 - d)`` × the clean members' soft vote + ``d`` × ``voted`` (the manifest's
        vote of all members), as a probability vector of ``voted``'s dtype."""
        clean = vote(np.asarray(outs)[self.clean], "soft").astype(np.float64)
        p = (1.0 - d) * clean + d * np.asarray(voted, dtype=np.float64)
        return (p / p.sum()).astype(voted.dtype)
