"""Join the members of several member sets into one run folder that `edge-ser convert` reads.

Why: an ensemble of different member families (e.g. CNN-LSTM and window-statistics members)
trained by separate runs on the same data is one ensemble on the device; this writes its
``final`` set with the one run-folder type (train.runs), after checking that the sets agree on
everything the device feeds them: labels, front end, window and each feature's normalisation
(within 1 % of its standard deviation: the same training windows give the same statistics).

    python tools/merge_member_sets.py RUN_A/final RUN_B/final --out RUN_MIX
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.errors import ConfigError  # noqa: E402
from train.runs import RUN_FILE, MemberRecord, RunInfo, SetInfo, read_json  # noqa: E402


def merge(sets: list[Path], out: Path) -> SetInfo:
    infos = [SetInfo.read(s) for s in sets]
    base = infos[0]
    members: list[MemberRecord] = []
    for path, info in zip(sets, infos, strict=True):
        for key in ("labels", "frontend", "window", "speaker_norm"):
            if getattr(info, key) != getattr(base, key):
                raise ConfigError(f"{path}: {key} differs from {sets[0]}")
        for kind, (m, s) in info.normalization.items():
            if kind in base.normalization:
                bm, bs = base.normalization[kind]
                if (np.abs(m - bm) / bs).max() > 0.01 or (np.abs(s - bs) / bs).max() > 0.01:
                    raise ConfigError(f"{path}: the normalisation of {kind} differs from "
                                      f"{sets[0]}'s: not the same training windows")
        for k, m in enumerate(info.members):
            name = f"m{len(members) + 1}-" + m.name.split("-", 1)[1]
            members.append(MemberRecord(name, m.feature, name + Path(m.file).suffix, m.weight,
                                        m.arch, m.seed, {**m.extra, "from": f"{path}#{k + 1}"}))
    norm = dict(base.normalization)
    for info in infos:
        for kind, stats in info.normalization.items():
            norm.setdefault(kind, stats)
    target = out / "final"
    target.mkdir(parents=True, exist_ok=False)
    src_files = [path / m.file for path, info in zip(sets, infos, strict=True)
                 for m in info.members]
    for src, m in zip(src_files, members, strict=True):
        shutil.copyfile(src, target / m.file)
    if (sets[0] / "data").is_dir():  # representative windows for int8 calibration
        shutil.copytree(sets[0] / "data", target / "data")
    merged = dataclasses.replace(base, normalization=norm, members=tuple(members))
    merged.write(target)
    run = RunInfo.from_dict(read_json(sets[0].parent / RUN_FILE))
    run.sets = ["final"]
    run.command = "python tools/merge_member_sets.py " + " ".join(map(str, sets))
    run.config = {**run.config, "members": [f"{m.arch}:{m.feature}:{m.seed}" for m in members]}
    run.write(out)
    return SetInfo.read(target)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+", type=Path, help="member set folders (with set.json)")
    ap.add_argument("--out", type=Path, required=True, help="new run folder")
    args = ap.parse_args()
    info = merge(args.sets, args.out)
    print(f"{args.out}: {len(info.members)} members: " + ", ".join(m.name for m in info.members))
    return 0


if __name__ == "__main__":
    sys.exit(main())
