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


def percent_table(first: str, results: dict[str, dict[str, float]], ref: str | None = None
                  ) -> str:
    """A markdown table of fractions as %: a row per method, a column per corpus
    (``results[corpus][method]``), their mean and, with ``ref``, the mean's change against
    that method."""
    import numpy as np

    corpora = list(results)
    names = list(next(iter(results.values())))
    lines = [f"| {first} | " + " | ".join(corpora) + " | mean |" + (" vs " + ref + " |"
                                                                    if ref else ""),
             "|---|" + "---|" * (len(corpora) + 1 + bool(ref))]
    base = np.mean([results[c][ref] for c in corpora]) if ref else 0.0
    for n in names:
        vals = [results[c][n] for c in corpora]
        row = f"| {n} | " + " | ".join(f"{100 * v:.1f}" for v in vals) + \
            f" | {100 * np.mean(vals):.1f} |"
        if ref:
            row += f" {100 * (np.mean(vals) - base):+.1f} |"
        lines.append(row)
    return "\n".join(lines)
