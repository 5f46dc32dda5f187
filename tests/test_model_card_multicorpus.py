"""tools/model_card_multicorpus.py: the card's robustness table and goal line are computed from
the reports they cite (means over the corpora every report has, changes against clean)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))

from model_card_multicorpus import (
    band_limit_lines,
    family_sentence,
    goal_line,
    level_limit_lines,
    robustness_lines,
)


def report(path: Path, per: dict[str, dict[str, float]]) -> dict:
    """A loco_device --condition report, as the card reads it (written, then loaded)."""
    keys = next(iter(per.values())).keys()
    mean = {k: sum(r[k] for r in per.values()) / len(per) for k in keys}
    path.write_text(json.dumps({"per_corpus": per, "mean": mean}))
    return json.loads(path.read_text())


def test_the_robustness_table_uses_the_corpora_every_report_has(tmp_path: Path) -> None:
    shipped = report(tmp_path / "a.json", {
        "ravdess": {"int8": 0.60, "float32": 0.6, "keras": 0.6, "reverb": 0.50, "noise:20": 0.55},
        "urdu": {"int8": 0.40, "float32": 0.4, "keras": 0.4, "reverb": 0.30, "noise:20": 0.40},
        "nemo": {"int8": 0.90, "float32": 0.9, "keras": 0.9, "reverb": 0.90, "noise:20": 0.90}})
    other = report(tmp_path / "b.json", {
        "ravdess": {"int8": 0.50, "keras": 0.5, "reverb": 0.45, "noise:20": 0.50},
        "urdu": {"int8": 0.50, "keras": 0.5, "reverb": 0.45, "noise:20": 0.48}})
    lines = robustness_lines({"new": shipped, "old": other})
    head = next(ln for ln in lines if ln.startswith("| int8"))
    assert "mean of ravdess, urdu)" in head and "room" in head and "20 dB" in head
    rows = {ln.split(" | ")[0][2:]: ln for ln in lines if ln.startswith(("| new", "| old"))}
    assert rows["new"] == "| new | 50.0 | 40.0 (-10.0) | 47.5 (-2.5) |"  # nemo left out
    assert rows["old"] == "| old | 50.0 | 45.0 (-5.0) | 49.0 (-1.0) |"
    assert robustness_lines({}) == []


def test_the_goal_line_follows_the_figures() -> None:
    def shipped(*uars: float) -> dict:
        return {"per_corpus": {f"c{i}": {"core4_uar": u} for i, u in enumerate(uars)}}

    assert " meets the goal" in goal_line(shipped(0.5, 0.6, 0.45), None)
    assert " misses the goal" in goal_line(shipped(0.55, 0.55, 0.39), None)
    device = {"c0": {"int8": 0.48}, "c1": {"int8": 0.5}, "c2": {"int8": 0.5}}
    line = goal_line(shipped(0.5, 0.52, 0.5), device)
    assert "meets with the Keras members and misses with the int8 ones" in line
    assert "lowest 48.0 %" in line


def test_the_phone_band_limit_comes_from_the_shipped_report(tmp_path: Path) -> None:
    shipped = report(tmp_path / "a.json", {
        "ravdess": {"int8": 0.50, "telephone": 0.30}, "urdu": {"int8": 0.40, "telephone": 0.30}})
    other = report(tmp_path / "b.json", {"ravdess": {"int8": 0.5, "telephone": 0.0}})
    (line,) = band_limit_lines({"new": shipped, "old": other})
    assert "costs 15 points" in line and "to 30.0 %" in line
    without = report(tmp_path / "c.json", {"ravdess": {"int8": 0.5, "reverb": 0.4}})
    assert band_limit_lines({"new": without, "old": shipped}) == []


def test_the_level_limit_gives_each_gains_cost_and_the_trained_levels(tmp_path: Path) -> None:
    levels = report(tmp_path / "a.json", {
        "ravdess": {"int8": 0.50, "gain:-20": 0.30, "gain:6": 0.48},
        "urdu": {"int8": 0.40, "gain:-20": 0.30, "gain:6": 0.40}})
    corpora = {"per_corpus": {"ravdess": {"median": -33.4}, "nemo": {"median": -17.6},
                              "urdu": {"median": -15.0}}}
    (line,) = level_limit_lines(levels, corpora)
    assert "-20 dB -15.0, +6 dB -1.0" in line
    assert "about -18 to -15 dBFS" in line and "ravdess -33.4" in line
    assert level_limit_lines(None, corpora) == []


def test_the_card_counts_each_family_of_the_bundled_members() -> None:
    """Kernel members that also read the RMS are their own family: the card must not call them
    level-free members of the shape, flatness and pitch."""
    from edge.manifest import load_manifest
    from edge.models import DEFAULT_MODELS_DIR

    m = load_manifest(DEFAULT_MODELS_DIR)
    renamed = {new: old for src in m.metadata.get("sources", [])
               for new, old in src.get("renamed", {}).items()}
    arch = {renamed.get(mb.name, mb.name): mb.name.split("-")[1] for mb in m.members}
    text = family_sentence(m, arch)
    counts = {"stats": 0, "stats-shape": 0, "rbf": 0, "rbf-rms": 0}
    for mb in m.members:
        kind = m.features[mb.feature].kind
        a = arch[renamed.get(mb.name, mb.name)]
        counts[a + ("-shape" if a == "stats" and kind.startswith("shape") else
                    "-rms" if a == "rbf" and "rms" in kind.split("+") else "")] += 1
    assert f"{counts['stats']} read the window's statistics (mean" in text
    assert f"{counts['stats-shape']} read the window's statistics of the spectral shape" in text
    assert f"{counts['rbf']} compare the window's statistics" in text
    assert (f"{counts['rbf-rms']} do the same with the window's RMS" in text) == \
        (counts["rbf-rms"] > 0)
    assert sum(counts.values()) == len(m.members)
