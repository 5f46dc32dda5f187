"""Compare what was trained (Keras float) with what the device will run (TFLite), honestly.

Every member and the ensemble are scored on the same windows with both, per window and
per file (mean of a file's window probabilities), plus top-1 agreement and mean |Δp|.
The TFLite side runs through ``edge.interpreter.MemberModel``, the device's own code
path (quantize input, reset the LSTM state, invoke, dequantize), so what is verified is
what runs. The numbers go into the manifest's metadata and a markdown + JSON report.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convert.tflite_ops import OpUse, unsupported
from edge.metrics import accuracy, confusion_matrix, mean_by_group, uar
from edge.vote import vote_windows

UAR_TARGET_POINTS = 0.5  # int8 ensemble UAR may drop at most this much (percentage points)
SIZE_TARGET_BYTES = 1_000_000  # whole ensemble on the device


@dataclass
class MemberOutputs:
    """One member's probabilities on the evaluation windows, and what describes its file."""

    name: str
    feature: str
    weight: float
    float_probs: np.ndarray  # the trained Keras member
    tflite_probs: np.ndarray  # the converted file through the device interpreter
    pruned_probs: np.ndarray | None = None  # the pruned Keras model before conversion
    sparsity: float | None = None
    layer_sparsity: dict[str, float] | None = None
    file: Path | None = None
    ops: Sequence[OpUse] = ()


def gzip_size(data: bytes) -> int:
    """Bytes after gzip -9 (deterministic: no name, no time) — what pruning actually saves."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def scores(y: np.ndarray, probs: np.ndarray, n_classes: int) -> dict[str, float]:
    cm = confusion_matrix(y, probs.argmax(axis=1), n_classes)
    return {"accuracy": accuracy(cm), "uar": uar(cm)}


def by_file(probs: np.ndarray, files: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean window probabilities per file, and each file's label."""
    ids, means = mean_by_group(probs, files)
    labels = np.zeros(len(ids), dtype=np.int64)
    labels[np.searchsorted(ids, files)] = y
    return means, labels


def vote(probs: Sequence[np.ndarray], weights: Sequence[float], rule: str) -> np.ndarray:
    """Ensemble probabilities per window, by the device's own rule (``edge.vote``)."""
    return vote_windows(np.stack(probs), rule, list(weights))


def compare(reference: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Top-1 agreement and |Δp| (mean and max over windows and classes)."""
    d = np.abs(reference.astype(np.float64) - test.astype(np.float64))
    return {
        "agreement": float(np.mean(reference.argmax(axis=1) == test.argmax(axis=1))),
        "mean_abs_dp": float(d.mean()),
        "max_abs_dp": float(d.max()),
    }


def _evaluate(probs: dict[str, np.ndarray], y: np.ndarray, files: np.ndarray,
              n_classes: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, p in probs.items():
        fp, fy = by_file(p, files, y)
        out[key] = {"windows": scores(y, p, n_classes), "files": scores(fy, fp, n_classes)}
    out["int8_vs_float"] = compare(probs["float"], probs["tflite"])
    if "pruned" in probs:
        out["int8_vs_pruned"] = compare(probs["pruned"], probs["tflite"])
    f, t = out["float"], out["tflite"]
    out["uar_drop_points"] = 100 * (f["windows"]["uar"] - t["windows"]["uar"])
    out["file_uar_drop_points"] = 100 * (f["files"]["uar"] - t["files"]["uar"])
    return out


def verify(members: Sequence[MemberOutputs], y: np.ndarray, files: np.ndarray,
           labels: Sequence[str], voting: str, data: dict[str, Any]) -> dict[str, Any]:
    """The verification record (JSON-ready) for members evaluated on the same windows."""
    n = len(labels)
    report: dict[str, Any] = {"data": data, "voting": voting, "members": []}
    total = total_gz = 0
    all_ops_ok = True
    for m in members:
        probs = {"float": m.float_probs, "tflite": m.tflite_probs}
        if m.pruned_probs is not None:
            probs["pruned"] = m.pruned_probs
        entry: dict[str, Any] = {"name": m.name, "feature": m.feature, "weight": m.weight,
                                 **_evaluate(probs, y, files, n)}
        if m.sparsity is not None:
            entry["sparsity"] = m.sparsity
            entry["layer_sparsity"] = m.layer_sparsity or {}
        if m.file is not None:
            data_bytes = m.file.read_bytes()
            entry["file"] = m.file.name
            entry["bytes"] = len(data_bytes)
            entry["gzip_bytes"] = gzip_size(data_bytes)
            total += entry["bytes"]
            total_gz += entry["gzip_bytes"]
        entry["ops"] = [u.to_dict() for u in m.ops]
        entry["tflite_runtime_2_14_problems"] = unsupported(list(m.ops))
        all_ops_ok &= not entry["tflite_runtime_2_14_problems"]
        report["members"].append(entry)

    weights = [m.weight for m in members]
    probs = {"float": vote([m.float_probs for m in members], weights, voting),
             "tflite": vote([m.tflite_probs for m in members], weights, voting)}
    if all(m.pruned_probs is not None for m in members):
        probs["pruned"] = vote([m.pruned_probs for m in members], weights, voting)  # type: ignore[misc]
    ens = {"members": len(members), **_evaluate(probs, y, files, n), "bytes": total,
           "gzip_bytes": total_gz}
    report["ensemble"] = ens
    report["targets"] = {
        "uar_drop_max_points": UAR_TARGET_POINTS,
        "uar_ok": ens["uar_drop_points"] <= UAR_TARGET_POINTS,
        "size_max_bytes": SIZE_TARGET_BYTES,
        "size_ok": total <= SIZE_TARGET_BYTES,
        "tflite_runtime_2_14_ok": all_ops_ok,
    }
    return report


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The few numbers worth keeping in the manifest's metadata."""
    e = report["ensemble"]
    return {
        "evaluated_on": report["data"]["description"],
        "windows": report["data"]["windows"],
        "float_uar": round(e["float"]["windows"]["uar"], 4),
        "tflite_uar": round(e["tflite"]["windows"]["uar"], 4),
        "uar_drop_points": round(e["uar_drop_points"], 3),
        "file_uar_drop_points": round(e["file_uar_drop_points"], 3),
        "agreement": round(e["int8_vs_float"]["agreement"], 4),
        "mean_abs_dp": round(e["int8_vs_float"]["mean_abs_dp"], 5),
        "bytes": e["bytes"],
        "gzip_bytes": e["gzip_bytes"],
        **{k: v for k, v in report["targets"].items() if k.endswith("_ok")},
    }


# ---- markdown ------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def _score_rows(e: dict[str, Any], tflite_name: str) -> list[str]:
    rows = []
    for key, label in (("float", "Keras float (trained)"), ("pruned", "Keras float, pruned"),
                       ("tflite", f"TFLite {tflite_name}")):
        if key in e:
            w, f = e[key]["windows"], e[key]["files"]
            rows.append(f"| {label} | {_pct(w['accuracy'])} | {_pct(w['uar'])} | "
                        f"{_pct(f['accuracy'])} | {_pct(f['uar'])} |")
    return rows


def markdown(report: dict[str, Any], header: dict[str, Any]) -> str:
    """The human-readable report (the JSON holds the same numbers and more)."""
    mode = header.get("mode", "int8")
    e = report["ensemble"]
    t = report["targets"]
    ok = {True: "ok", False: "MISSED"}
    lines = ["# edge-ser conversion report", ""]
    lines += [f"- **{k}**: {v}" for k, v in header.items()]
    lines += [f"- **evaluated on**: {report['data']['description']}", ""]
    if report["data"].get("warning"):
        lines += [f"> {report['data']['warning']}", ""]
    lines += [f"## Ensemble ({report['voting']} voting, {e['members']} members)", "",
              "| model | window acc % | window UAR % | file acc % | file UAR % |",
              "|---|---:|---:|---:|---:|", *_score_rows(e, mode), ""]
    c = e["int8_vs_float"]
    lines += [
        f"- top-1 agreement TFLite vs Keras float: {_pct(c['agreement'])} % of windows; "
        f"mean |Δp| {c['mean_abs_dp']:.4f}, max |Δp| {c['max_abs_dp']:.3f}",
        f"- UAR drop (windows): {e['uar_drop_points']:+.2f} points, target ≤ "
        f"{t['uar_drop_max_points']} → **{ok[t['uar_ok']]}**; files: "
        f"{e['file_uar_drop_points']:+.2f} points",
        f"- size: {_kb(e['bytes'])} raw, {_kb(e['gzip_bytes'])} gzipped; target ≤ "
        f"{t['size_max_bytes'] / 1e6:g} MB raw → **{ok[t['size_ok']]}**",
        f"- every op runs on tflite-runtime 2.14 → **{ok[t['tflite_runtime_2_14_ok']]}** "
        "(ai-edge-litert: loaded and run above)",
        "",
        "## Members", "",
        "| member | feature | float UAR % | TFLite UAR % | agreement % | mean abs Δp | sparsity % "
        "| bytes | gzip |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in report["members"]:
        sp = _pct(m["sparsity"]) if "sparsity" in m else "–"
        lines.append(
            f"| {m['name']} | {m['feature']} | {_pct(m['float']['windows']['uar'])} | "
            f"{_pct(m['tflite']['windows']['uar'])} | {_pct(m['int8_vs_float']['agreement'])} | "
            f"{m['int8_vs_float']['mean_abs_dp']:.4f} | {sp} | {m.get('bytes', 0)} | "
            f"{m.get('gzip_bytes', 0)} |")
    layers = [m for m in report["members"] if m.get("layer_sparsity")]
    if layers:
        lines += ["", "### Sparsity per layer (fraction of zero kernel weights)", ""]
        for m in layers:
            per = ", ".join(f"{k} {_pct(v)} %" for k, v in m["layer_sparsity"].items())
            lines.append(f"- {m['name']}: {per}")
    lines += ["", "## Ops (name, version, nodes)", "",
              "| member | ops | tflite-runtime 2.14 |", "|---|---|---|"]
    for m in report["members"]:
        ops = ", ".join(f"{o['op']} v{o['version']} ×{o['count']}" for o in m["ops"])
        problems = "; ".join(m["tflite_runtime_2_14_problems"]) or "ok"
        lines.append(f"| {m['name']} | {ops} | {problems} |")
    lines.append("")
    return "\n".join(lines)
