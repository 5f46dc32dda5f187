"""One way the benchmark scripts hand back a result: the markdown table on stdout and, with an
output stem, ``STEM.md`` (the table) and ``STEM.json`` (every figure) side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_report(out: Path | None, markdown: str, data: Any) -> None:
    text = markdown.strip("\n") + "\n"
    print(text)
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def corpus_table(first: str, rows: dict[str, dict[str, float]], corpora: list[str],
                 ref: str | None = None, percent: bool = True, ref_header: str | None = None
                 ) -> str:
    """The screens' and studies' one markdown table: a row per setting (``rows[name][corpus]``,
    fractions), a column per corpus, their mean and, with ``ref``, the mean's change against
    that row in points (headed ``vs REF_HEADER``, default the row's name). ``percent``: cells
    as % with one decimal, else fractions with three."""
    import numpy as np

    def cell(v: float) -> str:
        return f"{100 * v:.1f}" if percent else f"{v:.3f}"

    def mean(r: dict[str, float]) -> float:
        return float(np.mean([r[c] for c in corpora]))

    lines = [f"| {first} | " + " | ".join(corpora) + " | mean |"
             + (f" vs {ref_header or ref} |" if ref else ""),
             "|---|" + "---|" * (len(corpora) + 1 + bool(ref))]
    for name, r in rows.items():
        row = f"| {name} | " + " | ".join(cell(r[c]) for c in corpora) + f" | {cell(mean(r))} |"
        if ref:
            row += f" {100 * (mean(r) - mean(rows[ref])):+.1f} |"
        lines.append(row)
    return "\n".join(lines)


def by_setting(per_corpus: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """``results[corpus][setting]`` turned into ``rows[setting][corpus]``."""
    names = list(next(iter(per_corpus.values())))
    return {n: {c: r[n] for c, r in per_corpus.items()} for n in names}
