"""Nested leave-one-corpus-out: what choosing among candidate ensembles by leave-one-corpus-out
scores on a corpus the choice never saw.

Why: a choice made by looking at the held-out corpora makes their figure optimistic, and the
validation speakers (new speakers of the training corpora) do not measure the target (a corpus
never heard). Nested, each outer held-out corpus *h* gets the candidate that the *inner*
leave-one-corpus-out on the other corpora alone prefers (``edge-ser train --set split=loco``
on their ``--data`` only, mixed with ``loco_mix.py``); its outer figure on *h* is the nested
figure. The mean over *h* estimates the procedure; the final ensemble is the candidate the
outer leave-one-corpus-out prefers (the same procedure, one level up).

    python benchmarks/nested_loco.py --outer mix-rbf.json \
        --inner 'nested/inner-{corpus}.json' \
        --candidate A=rbf_var_1024 --candidate B=rbf_speaker_mixed \
        --candidate A+B=rbf_var_1024+rbf_speaker_mixed --out nested-rbf

``--inner`` and ``--outer`` are ``loco_mix.py`` reports; a candidate is its name in the inner
reports ``=`` its name in the outer one. Ties go to the candidate with fewer runs voting.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import save_report


@dataclass(frozen=True)
class Choice:
    """One outer corpus: every candidate's inner mean, the chosen one and its outer figure."""

    corpus: str
    inner: dict[str, float]
    chosen: str
    outer: float


def core4(report: dict, combo: str) -> dict[str, float]:
    """Per held-out corpus core-4 UAR of ``combo`` in a loco_mix report."""
    if combo not in report:
        raise SystemExit(f"error: the report has no ensemble {combo!r} (it has "
                         f"{', '.join(report)})")
    return {c: r["core4_uar"] for c, r in report[combo]["per_corpus"].items()}


def choose(inner: dict[str, float]) -> str:
    """The highest inner mean; ties to fewer runs voting, then by name."""
    return max(inner, key=lambda n: (round(inner[n], 9), -n.count("+"), n))


def nested(outer: dict, inner: dict[str, dict], candidates: dict[str, str]) -> list[Choice]:
    out = []
    for corpus, report in inner.items():
        means = {}
        for name in candidates:
            figures = core4(report, name)
            if corpus in figures:
                raise SystemExit(f"error: the inner report for {corpus} tests {corpus}: it "
                                 "must leave it out")
            means[name] = float(np.mean(list(figures.values())))
        chosen = choose(means)
        out.append(Choice(corpus, means, chosen, core4(outer, candidates[chosen])[corpus]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outer", type=Path, required=True, help="loco_mix JSON, all corpora")
    ap.add_argument("--inner", required=True, help="loco_mix JSON per outer corpus, {corpus}")
    ap.add_argument("--candidate", action="append", required=True, metavar="INNER=OUTER")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.json")
    args = ap.parse_args()
    candidates = dict(c.partition("=")[::2] for c in args.candidate)
    outer = json.loads(args.outer.read_text())
    corpora = list(core4(outer, next(iter(candidates.values()))))
    inner = {}
    for c in corpora:
        path = Path(args.inner.format(corpus=c))
        if not path.is_file():
            raise SystemExit(f"error: no inner report for {c} ({path})")
        inner[c] = json.loads(path.read_text())
    choices = nested(outer, inner, candidates)
    outer_means = {n: float(np.mean(list(core4(outer, o).values())))
                   for n, o in candidates.items()}
    final = choose(outer_means)
    lines = ["Nested leave-one-corpus-out, core-4 UAR %. Inner: each candidate's mean over the "
             "other corpora, each tested by members trained on the remaining ones (the outer "
             "corpus in no set). Outer: the chosen candidate on the outer corpus, trained on "
             "all the others.", "",
             "| outer corpus | " + " | ".join(f"inner {n}" for n in candidates)
             + " | chosen | its outer figure |",
             "|---|" + "---|" * (len(candidates) + 2)]
    for ch in choices:
        lines.append(f"| {ch.corpus} | " + " | ".join(f"{100 * ch.inner[n]:.1f}"
                                                      for n in candidates)
                     + f" | {ch.chosen} | {100 * ch.outer:.1f} |")
    figures = [ch.outer for ch in choices]
    lines += ["", f"Nested mean **{100 * np.mean(figures):.1f} %**, lowest corpus "
              f"{100 * min(figures):.1f} %. Outer means (all corpora, what picks the final "
              "ensemble): " + ", ".join(f"{n} {100 * v:.1f}" for n, v in outer_means.items())
              + f"; final: **{final}**."]
    data = {"candidates": candidates, "choices": [ch.__dict__ for ch in choices],
            "nested_mean": float(np.mean(figures)), "nested_lowest": float(min(figures)),
            "outer_means": outer_means, "final": final}
    save_report(args.out, "\n".join(lines), data)


if __name__ == "__main__":
    main()
