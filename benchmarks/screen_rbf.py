"""Leave-one-corpus-out screen of ``rbf`` members (train.rbf) per feature kind and their vote.

Why: the rbf member is fitted in closed form, so the member itself (not a stand-in) can be
screened in minutes: for each held-out corpus, ``train.rbf.fit_rbf`` on the other corpora's
3 s windows (speech frames, short clips filled with their own frames, global statistics of
the training corpora, every corpus weighing the same), each test file decided by the mean of
its windows' probabilities (0.5 s hop, as ``classify``). Float, in NumPy: the int8 member
agrees with it on 94-95 % of windows (``rbf-member-probe.md``). Rows: each kind, then the
soft vote of all kinds.

    python benchmarks/screen_rbf.py --data ravdess:DIR ... --kind shape+flatness+pitch \\
        --kind mfcc+pitch+rms --out OUT
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import corpus_table, save_report
from benchmarks.screen_corpora import balanced_weights, load_frames, screen_arguments
from benchmarks.screen_member_gap import TEST_HOP, TRAIN_HOP, windows
from edge.corpora import CORE_4
from edge.metrics import score
from train.config import TrainConfig, from_mapping, parse_override
from train.fit import file_probs
from train.rbf import fit_rbf


@dataclass
class HeldOut:
    """One held-out corpus's windows, normalised by the training corpora's frame statistics."""

    x: np.ndarray          # training windows [n, frames, dim]
    y: np.ndarray          # their labels
    corpus: np.ndarray     # their corpora
    test: np.ndarray       # every test window (0.5 s hop)
    owner: np.ndarray      # the test file of each test window
    files: np.ndarray      # the training files
    mu: np.ndarray         # the training frames' mean per coefficient
    sd: np.ndarray         # and standard deviation


def normalised_windows(frames: list[np.ndarray], files: np.ndarray, hop: int, mu: np.ndarray,
                       sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the files' windows [n, frames, dim] normalised by ``mu``, ``sd``; each one's file)."""
    pairs = [(i, w) for i in files for w in windows(frames[i], hop, fill=True)]
    return (np.stack([((w - mu) / sd).astype(np.float32) for _, w in pairs]),
            np.array([i for i, _ in pairs]))


def held_out_windows(frames: list[np.ndarray], y: np.ndarray, corpus: np.ndarray, held: str
                     ) -> HeldOut:
    tr, te = np.flatnonzero(corpus != held), np.flatnonzero(corpus == held)
    cat = np.concatenate([frames[i] for i in tr])
    mu, sd = cat.mean(0), cat.std(0) + 1e-6
    x, train_owner = normalised_windows(frames, tr, TRAIN_HOP, mu, sd)
    test, owner = normalised_windows(frames, te, TEST_HOP, mu, sd)
    return HeldOut(x, y[train_owner], corpus[train_owner], test, owner, tr, mu, sd)


def held_out_probs(frames: list[np.ndarray], y: np.ndarray, corpus: np.ndarray, held: str,
                   cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(test file ids, their probabilities [files, 4]) of an rbf member fitted without
    ``held``."""
    h = held_out_windows(frames, y, corpus, held)
    fit = fit_rbf(h.x, h.y, len(CORE_4), cfg, cfg.seed,
                  weights=balanced_weights(h.corpus, h.y, len(CORE_4)))
    return file_probs(fit.probs(h.test), h.owner)


def main() -> None:
    ap = screen_arguments(__doc__)
    ap.add_argument("--kind", action="append", required=True, help="feature kind (repeat)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an rbf setting of train.config (e.g. rbf_centres=256)")
    args = ap.parse_args()
    cfg = from_mapping(dict(parse_override(o) for o in args.set), base=TrainConfig())
    rows: dict[str, dict[str, float]] = {}
    votes: dict[str, list[np.ndarray]] = {}
    truth: dict[str, np.ndarray] = {}
    for kind in args.kind:
        ds, frames, _, _ = load_frames(args.data, ",".join(CORE_4), kind, args.cache)
        corpus, y = ds.corpus_of(), np.asarray(ds.y)
        rows[kind] = {}
        for held in sorted(set(corpus)):
            files, p = held_out_probs(frames, y, corpus, held, cfg)
            rows[kind][held] = score(y[files], p.argmax(1), list(CORE_4)).uar
            votes.setdefault(held, []).append(p)
            truth[held] = y[files]
            print(kind, held, round(rows[kind][held], 4), flush=True)
    if len(args.kind) > 1:
        rows["vote of all kinds"] = {
            held: score(truth[held], np.mean(ps, axis=0).argmax(1), list(CORE_4)).uar
            for held, ps in votes.items()}
    corpora = sorted(truth)
    setting = ", ".join(args.set) or "the recipe's rbf settings"
    head = (f"Leave-one-corpus-out core-4 UAR % of `rbf` members ({setting}), each file decided "
            "by its 3 s windows' mean probabilities; float NumPy fit of train.rbf.\n\n")
    save_report(args.out, head + corpus_table("rbf member", rows, corpora), rows)


if __name__ == "__main__":
    main()
