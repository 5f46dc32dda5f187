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
