"""Speaker-independent K-fold splits: folds are groups of actors, balanced by gender.

Emotion models memorise speakers (BASELINE.md: ~100 % on training actors, ~50 % on new
ones), so a file-level split reports a number the device will never see. Here every fold's
test actors are unseen in training and validation; validation actors (for early stopping and
tuning) are also whole actors taken from the training side. Folds are deterministic and, for
RAVDESS, committed in ``train/folds/ravdess-20.json`` so every configuration is compared on
the same folds. A random file-level split exists only as :func:`random_file_folds`, and its
results are labelled "speaker-dependent" everywhere.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge.errors import ConfigError

FOLDS_DIR = Path(__file__).parent / "folds"


@dataclass(frozen=True)
class Fold:
    name: str
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]


@dataclass(frozen=True)
class FoldPlan:
    """Folds of one corpus; ``split`` is ``"speaker-independent"`` or ``"speaker-dependent"``."""

    corpus: str
    split: str
    folds: tuple[Fold, ...]
    genders: dict[str, str | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "edge-ser-folds",
            "version": 1,
            "corpus": self.corpus,
            "split": self.split,
            "genders": self.genders,
            "folds": [asdict(f) for f in self.folds],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FoldPlan:
        if d.get("format") != "edge-ser-folds":
            raise ConfigError("not an edge-ser folds file")
        folds = tuple(Fold(f["name"], tuple(f["train"]), tuple(f["val"]), tuple(f["test"]))
                      for f in d["folds"])
        plan = cls(d["corpus"], d["split"], folds, dict(d.get("genders", {})))
        if plan.split == "speaker-independent":
            check_disjoint(plan)
        return plan

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> FoldPlan:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, KeyError) as exc:
            raise ConfigError(f"cannot read folds file {path}: {exc}") from None


def _key(s: str) -> tuple[Any, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s))


def _chunks(items: Sequence[str], k: int) -> list[list[str]]:
    """Split into k contiguous chunks whose sizes differ by at most one."""
    n = len(items)
    return [list(items[i * n // k:(i + 1) * n // k]) for i in range(k)]


def speaker_folds(genders: Mapping[str, str | None], n_folds: int = 5, n_val: int = 2,
                  corpus: str = "ravdess") -> FoldPlan:
    """Group speakers into ``n_folds`` test groups with equal gender shares.

    Men and women (and speakers of unknown gender) are each sorted naturally and cut into
    ``n_folds`` contiguous chunks; fold i tests chunk i of each. For RAVDESS's 20 actors this
    gives actors 1-4, 5-8, ... (2 men, 2 women each), the folds BASELINE.md was measured on.
    Validation actors come from the next fold's group, alternating genders, so they are
    training-side actors that the test actors never are.
    """
    speakers = sorted(genders, key=_key)
    if len(speakers) < n_folds:
        raise ConfigError(
            f"{len(speakers)} speakers cannot make {n_folds} speaker-independent folds")
    if any(s == "" for s in speakers):
        raise ConfigError("some files have no speaker; a speaker-independent split needs "
                          "speakers (use a corpus with speaker names, a CSV speaker column, "
                          "or split=random)")
    groups: list[list[str]] = [[] for _ in range(n_folds)]
    for g in ("male", "female", None):
        same = [s for s in speakers if genders[s] == g]
        # never more chunks than speakers (no empty chunk), each into the smallest group so
        # far: no fold is left without test speakers when a gender has fewer than n_folds
        for chunk in _chunks(same, min(n_folds, len(same))):
            smallest = min(range(n_folds), key=lambda i: len(groups[i]))
            groups[smallest].extend(chunk)
    groups = [sorted(g, key=_key) for g in groups]
    folds = []
    for i in range(n_folds):
        test = groups[i]
        rest = [s for s in speakers if s not in test]
        if len(rest) - n_val < 1:
            raise ConfigError("too few speakers left for training after test and validation")
        val = _pick_val(groups[(i + 1) % n_folds], rest, genders, n_val)
        train = [s for s in rest if s not in val]
        folds.append(Fold(f"fold-{i + 1}", tuple(train), tuple(val), tuple(test)))
    plan = FoldPlan(corpus, "speaker-independent", tuple(folds), dict(genders))
    check_disjoint(plan)
    return plan


def _pick_val(preferred: list[str], rest: list[str], genders: Mapping[str, str | None],
              n_val: int) -> list[str]:
    """``n_val`` actors, alternating men and women, from ``preferred`` first."""
    pool = [s for s in preferred if s in rest] + [s for s in rest if s not in preferred]
    by_gender = {g: [s for s in pool if genders[s] == g] for g in ("male", "female", None)}
    order = ("male", "female", None)
    val: list[str] = []
    while len(val) < n_val and any(by_gender.values()):
        for g in order:
            if by_gender[g] and len(val) < n_val:
                val.append(by_gender[g].pop(0))
    return sorted(val, key=_key)


def final_set(genders: Mapping[str, str | None]) -> Fold:
    """All speakers for training, none held out (epochs fixed from the folds)."""
    return Fold("final", tuple(sorted(genders, key=_key)), (), ())


def check_disjoint(plan: FoldPlan) -> None:
    """Raise ConfigError if any speaker is in two of train/val/test of a fold."""
    for f in plan.folds:
        tr, va, te = set(f.train), set(f.val), set(f.test)
        if tr & va or tr & te or va & te:
            raise ConfigError(f"{f.name}: a speaker is in more than one of train/val/test")
    empty = [f.name for f in plan.folds if not f.test]
    if empty:
        raise ConfigError(f"{', '.join(empty)}: no test speakers (every fold must test some)")
    tested = [s for f in plan.folds for s in f.test]
    if len(tested) != len(set(tested)):
        raise ConfigError("a speaker is tested in more than one fold")


def random_file_folds(n_files: int, n_folds: int, seed: int, val_fraction: float = 0.1
                      ) -> list[tuple[list[int], list[int], list[int]]]:
    """SPEAKER-DEPENDENT file-level K-fold: (train, val, test) file indices per fold.

    Only for comparison with papers that report it; its figures are always labelled
    "speaker-dependent" because the same voices are in training and test.
    """
    order = list(range(n_files))
    random.Random(seed).shuffle(order)
    chunks = _chunks([str(i) for i in order], n_folds)
    out = []
    for i in range(n_folds):
        test = [int(x) for x in chunks[i]]
        rest = [j for j in order if j not in set(test)]
        n_val = max(1, round(val_fraction * len(rest)))
        out.append((sorted(rest[n_val:]), sorted(rest[:n_val]), sorted(test)))
    return out


def fit_fold_counts(n_speakers: int, n_folds: int, n_val: int) -> tuple[int, int]:
    """``(n_folds, n_val)`` that a corpus of ``n_speakers`` can honour.

    A handful of speakers (a smoke test, a first try on one's own recordings) cannot make the
    recipe's 5 folds with 2 validation actors; rather than fail, use one fold per speaker at
    most and as many validation actors as leave one training speaker in every fold.
    """
    if n_speakers < 2:
        raise ConfigError(f"{n_speakers} speaker(s): a speaker-independent split needs at "
                          "least 2 (or set split=random, which is speaker-dependent)")
    folds = min(n_folds, n_speakers)
    largest_test = -(-n_speakers // folds)
    return folds, max(0, min(n_val, n_speakers - largest_test - 1))


def committed_folds_path(corpus: str, n_speakers: int) -> Path:
    return FOLDS_DIR / f"{corpus}-{n_speakers}.json"


def plan_for(genders: Mapping[str, str | None], corpus: str, n_folds: int, n_val: int) -> FoldPlan:
    """The committed plan for this corpus and speaker set if there is one, else a new one."""
    path = committed_folds_path(corpus, len(genders))
    if path.is_file():
        plan = FoldPlan.load(path)
        if set(plan.genders) == set(genders) and len(plan.folds) == n_folds and all(
            len(f.val) == n_val for f in plan.folds
        ):
            return plan
    return speaker_folds(genders, n_folds, n_val, corpus)
