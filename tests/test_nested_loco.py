"""benchmarks/nested_loco.py: each outer corpus gets the candidate its inner runs prefer, and
its figure is that candidate's outer figure, never the best outer one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.nested_loco import choose, nested

REPO = Path(__file__).resolve().parents[1]


def report(figures: dict[str, dict[str, float]]) -> dict:
    return {combo: {"per_corpus": {c: {"core4_uar": v} for c, v in per.items()}}
            for combo, per in figures.items()}


OUTER = report({"a": {"x": 0.50, "y": 0.40, "z": 0.60},
                "b": {"x": 0.30, "y": 0.55, "z": 0.45}})
INNER = {"x": report({"A": {"y": 0.40, "z": 0.60}, "B": {"y": 0.55, "z": 0.40}}),   # A 0.50
         "y": report({"A": {"x": 0.50, "z": 0.60}, "B": {"x": 0.30, "z": 0.45}}),   # A 0.55
         "z": report({"A": {"x": 0.40, "y": 0.40}, "B": {"x": 0.45, "y": 0.55}})}   # B 0.50


def test_each_outer_corpus_gets_the_inner_choice_and_its_outer_figure() -> None:
    got = nested(OUTER, INNER, {"A": "a", "B": "b"})
    assert [(c.corpus, c.chosen, c.outer) for c in got] == [
        ("x", "A", 0.50), ("y", "A", 0.40), ("z", "B", 0.45)]  # y: B scores 0.55 outer, unseen
    assert got[2].inner == pytest.approx({"A": 0.40, "B": 0.50})


def test_ties_go_to_fewer_runs_and_an_inner_report_may_not_test_its_outer_corpus() -> None:
    assert choose({"A+B": 0.5, "A": 0.5, "B": 0.4}) == "A"
    leaky = dict(INNER, x=report({"A": {"x": 0.9}, "B": {"y": 0.1}}))
    with pytest.raises(SystemExit, match="must leave it out"):
        nested(OUTER, leaky, {"A": "a", "B": "b"})


def test_the_command_writes_its_table(tmp_path: Path) -> None:
    (tmp_path / "outer.json").write_text(json.dumps(OUTER))
    for c, r in INNER.items():
        (tmp_path / f"inner-{c}.json").write_text(json.dumps(r))
    r = subprocess.run([sys.executable, str(REPO / "benchmarks/nested_loco.py"),
                        "--outer", str(tmp_path / "outer.json"),
                        "--inner", str(tmp_path / "inner-{corpus}.json"),
                        "--candidate", "A=a", "--candidate", "B=b",
                        "--out", str(tmp_path / "nested")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "nested.json").read_text())
    assert data["nested_mean"] == pytest.approx((0.50 + 0.40 + 0.45) / 3)
    assert data["final"] == "A" and "| z | 40.0 | 50.0 | B | 45.0 |" in r.stdout
