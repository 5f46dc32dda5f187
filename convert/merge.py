"""Merge converted model folders into one ensemble (``edge-ser merge``).

Why: members that are best together may not come from one run. The CNN-LSTMs read a
window's time course and learnt whole windows; the statistics members learnt windows whose
silence is filled with speech, normalised by other statistics. Each run is converted and
verified on its own by ``edge-ser convert``; merging only re-packages the verified int8 files
and says in the manifest how each member's input is made (a feature *stream*: the front end's
kind, its window fill and its statistics), so nothing is re-quantized and nothing is guessed.

What must agree, because the device computes it once for all members: labels (in order), the
front end, the window's length and hop, the speech gate and VAD, the preprocessing and the
voting rule. The first folder is the base: its enrolment section and window fill are the
merged ensemble's; its calibration too, unless ``temperature`` is given (folders whose
temperatures differ need one). Training speakers are the union of the folders'. A member
whose name an earlier folder already uses is renamed ``NAME-N`` (N: its folder's place).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edge import __version__
from edge.errors import ConfigError
from edge.manifest import (
    CalibrationSpec,
    FeatureSpec,
    Manifest,
    Member,
    TrainingCorpus,
    TrainingSpec,
    load_manifest,
    write_manifest,
)

REPORT_MD = "merge-report.md"
#: Files of a source folder kept beside the merged members (under sources/N/).
SOURCE_REPORTS = ("conversion-report.md", "conversion-report.json", "MODEL_CARD.md")


@dataclass(frozen=True)
class MergeSource:
    """A model folder and the members taken from it (None: all of them)."""

    folder: Path
    members: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, text: str) -> MergeSource:
        """``DIR`` or ``DIR:NAME,NAME`` (a folder whose own name holds a colon is taken whole)."""
        folder, sep, names = text.rpartition(":")
        if not sep or Path(text).is_dir() or not folder:
            return cls(Path(text))
        chosen = tuple(n.strip() for n in names.split(",") if n.strip())
        if not chosen:
            raise ConfigError(f"{text}: name at least one member after the colon")
        return cls(Path(folder), chosen)


@dataclass(frozen=True)
class MergeResult:
    manifest: Manifest
    out: Path


def _same(what: str, values: Sequence[Any], sources: Sequence[MergeSource]) -> None:
    for src, value in zip(sources[1:], values[1:], strict=True):
        if value != values[0]:
            raise ConfigError(f"{src.folder}: its {what} differs from {sources[0].folder}'s; "
                              "only models made for the same front end and labels can vote "
                              "together")


def _chosen(src: MergeSource, m: Manifest) -> list[Member]:
    if src.members is None:
        return list(m.members)
    names = {mb.name: mb for mb in m.members}
    unknown = [n for n in src.members if n not in names]
    if unknown:
        raise ConfigError(f"{src.folder} has no member {unknown[0]!r} (it has "
                          f"{', '.join(names)})")
    return [names[n] for n in dict.fromkeys(src.members)]


def _stream_key(spec: FeatureSpec, streams: dict[str, FeatureSpec]) -> str:
    """The key of an equal stream already taken, else the kind, else ``kind/2``, ``kind/3``…"""
    for key, have in streams.items():
        if have == spec:
            return key
    key, n = spec.kind, 1
    while key in streams:
        n += 1
        key = f"{spec.kind}/{n}"
    return key


def _training(manifests: Sequence[Manifest]) -> TrainingSpec | None:
    if any(m.training is None for m in manifests):
        return None  # one folder does not say whom it heard: neither can the merge
    speakers: dict[str, dict[str, None]] = {}
    for m in manifests:
        assert m.training is not None
        for c in m.training.corpora:
            speakers.setdefault(c.name, {}).update(dict.fromkeys(c.speakers))
    return TrainingSpec(tuple(TrainingCorpus(name, tuple(s)) for name, s in speakers.items()))


def _calibration(manifests: Sequence[Manifest], sources: Sequence[MergeSource],
                 temperature: float | None) -> CalibrationSpec | None:
    if temperature is not None:
        return CalibrationSpec(temperature, "given to merge (--temperature)")
    temps = [m.calibration.temperature if m.calibration else 1.0 for m in manifests]
    if len(set(temps)) > 1:
        raise ConfigError(f"the folders' calibration temperatures differ "
                          f"({', '.join(f'{t:g}' for t in temps)}): give --temperature, fitted "
                          "on validation speakers for the merged vote")
    return manifests[0].calibration


def _unclashed(member: Member, members: Sequence[Member], source: int) -> Member:
    """``member``, renamed ``NAME-N`` (N: its folder's place) if an earlier folder has its
    name or file: two runs both number their members from m1, and a folder's names are only
    labels (the checksum names the file)."""
    def clashes(mb: Member) -> bool:
        return any(mb.name in (have.name, Path(have.file).stem) or mb.file == have.file
                   for have in members)

    if not clashes(member):
        return member
    name = f"{member.name}-{source}"
    renamed = replace(member, name=name, file=f"{name}{Path(member.file).suffix}")
    if clashes(renamed):
        raise ConfigError(f"two members would be named {name!r}; take fewer members "
                          "(FOLDER:NAME,...)")
    return renamed


def merged_manifest(sources: Sequence[MergeSource], temperature: float | None = None
                    ) -> tuple[Manifest, list[tuple[Path, Member]]]:
    """The merged manifest and, per member, the file it comes from (checksums verified)."""
    if len(sources) < 2:
        raise ConfigError("give at least two model folders to merge")
    manifests = [load_manifest(s.folder) for s in sources]
    base = manifests[0]
    _same("labels", [m.labels for m in manifests], sources)
    _same("front end", [m.frontend for m in manifests], sources)
    _same("window length and hop", [replace(m.window, fill="none") for m in manifests], sources)
    _same("speech gate and VAD", [m.speech for m in manifests], sources)
    _same("preprocessing", [m.preprocessing for m in manifests], sources)
    _same("voting rule", [m.voting for m in manifests], sources)
    chosen = [_chosen(src, m) for src, m in zip(sources, manifests, strict=True)]
    streams: dict[str, FeatureSpec] = {}
    members: list[Member] = []
    files: list[tuple[Path, Member]] = []
    taken_from: set[tuple[Path, str]] = set()
    record: list[dict[str, Any]] = []
    for i, (src, m, taken) in enumerate(zip(sources, manifests, chosen, strict=True), 1):
        names: list[str] = []
        renamed: dict[str, str] = {}
        for mb in taken:
            f = m.features[mb.feature]
            fill = m.stream_fill(mb.feature)
            spec = replace(f, fill=None if fill == base.window.fill else fill)
            key = _stream_key(spec, streams)
            streams[key] = spec
            origin = (src.folder.resolve(), mb.name)
            if origin in taken_from:
                raise ConfigError(f"member {mb.name!r} of {src.folder} is taken twice")
            taken_from.add(origin)
            member = _unclashed(replace(mb, feature=key), members, i)
            members.append(member)
            files.append((m.member_path(mb), member))
            names.append(member.name)
            if member.name != mb.name:
                renamed[member.name] = mb.name
        record.append({"models": str(src.folder.resolve()), "members": names,
                       "metadata": m.metadata, **({"renamed": renamed} if renamed else {})})
    metadata = {"merged_by": f"edge-ser {__version__}", "sources": record}
    manifest = replace(base, features=streams, members=tuple(members), metadata=metadata,
                       root=None, training=_training(manifests), condition_gate=None,
                       calibration=_calibration(manifests, sources, temperature))
    manifest.validate()
    return manifest, files


def _report(manifest: Manifest, sources: Sequence[MergeSource]) -> str:
    lines = ["# Merged ensemble", "",
             f"Written by `edge-ser merge` ({manifest.metadata['merged_by']}) from "
             f"{len(sources)} model folders; each member is the verified file of its folder "
             "(see `sources/N/` for its conversion report).", "",
             "| member | from | feature stream | kind | window fill | weight |",
             "|---|---|---|---|---|---|"]
    where = {name: i for i, s in enumerate(manifest.metadata["sources"], 1)
             for name in s["members"]}
    for mb in manifest.members:
        f = manifest.features[mb.feature]
        lines.append(f"| {mb.name} | {where[mb.name]}: `{sources[where[mb.name] - 1].folder}` "
                     f"| {mb.feature} | {f.kind} | {manifest.stream_fill(mb.feature)} "
                     f"| {mb.weight:g} |")
    return "\n".join(lines) + "\n"


def merge(sources: Sequence[MergeSource], out: Path, *, force: bool = False,
          temperature: float | None = None,
          speech_level: tuple[float, float] | None = None) -> MergeResult:
    """Write the merged model folder ``out`` all at once (nothing is left half-written).
    ``speech_level``: where the training corpora's speech sits, dBFS (``speech.level_dbfs``;
    ``benchmarks/corpus_levels.py`` measures it)."""
    from convert.package import check_target, staged

    check_target(Path(out), force)
    manifest, files = merged_manifest(sources, temperature)
    if speech_level is not None:
        manifest = replace(manifest, speech=replace(manifest.speech, level_dbfs=speech_level))
        manifest.validate()
    with staged(Path(out), force) as stage:
        for path, member in files:
            shutil.copyfile(path, stage / member.file)
        for i, src in enumerate(sources, 1):
            kept = [name for name in SOURCE_REPORTS if (src.folder / name).is_file()]
            if kept:
                (stage / "sources" / str(i)).mkdir(parents=True)
            for name in kept:
                shutil.copyfile(src.folder / name, stage / "sources" / str(i) / name)
        write_manifest(manifest, stage)
        (stage / REPORT_MD).write_text(_report(manifest, sources), encoding="utf-8")
        load_manifest(stage)  # every copied file against its checksum, before it goes live
    return MergeResult(replace(manifest, root=Path(out)), Path(out))
