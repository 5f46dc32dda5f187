"""What the user sees: a readable live line, or JSON lines for programs.

Both write one line per event and flush it at once, so ``edge-ser listen | consumer`` and the
systemd journal see decisions as they happen, not when a buffer fills.
"""

from __future__ import annotations

import json
import sys
import time as _time
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from edge.decisions import SILENCE, UNCERTAIN, Decision


@dataclass(frozen=True)
class Drops:
    """Audio lost so far (capture could not keep up, or the device overflowed)."""

    samples: int = 0
    overflows: int = 0


def format_clock(seconds: float) -> str:
    """Stream time as ``MM:SS.s`` (``H:MM:SS.s`` past an hour)."""
    seconds = max(0.0, seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h >= 1:
        return f"{int(h)}:{int(m):02d}:{s:04.1f}"
    return f"{int(m):02d}:{s:04.1f}"


def bar(fraction: float, width: int = 10, ascii_only: bool = False) -> str:
    """A fixed-width bar; eighth blocks when the terminal can show them."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    if ascii_only:
        n = round(fraction * width)
        return "#" * n + "." * (width - n)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return text + " " * (width - len(text))


def top_k(labels: tuple[str, ...], probs: np.ndarray, k: int = 3) -> list[tuple[str, float]]:
    order = np.argsort(-np.asarray(probs), kind="stable")[:k]
    return [(labels[i], float(probs[i])) for i in order]


def _can_encode(stream: IO[str], text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class LiveLine:
    """``00:12.5  angry      0.81  angry ████████   0.81  sad ██ 0.12  calm ▌ 0.04``."""

    def __init__(self, labels: tuple[str, ...], stream: IO[str] | None = None,
                 show_drops: bool = True, speaker: bool = False) -> None:
        self.labels = tuple(labels)
        self.stream = stream or sys.stdout
        self.show_drops = show_drops
        self.speaker = speaker  # --speaker: end the line with the speaker in use
        self.ascii_only = not _can_encode(self.stream, "█▏")
        self._width = max(len(x) for x in (*self.labels, SILENCE, UNCERTAIN))
        self._reported_drops = 0

    def format(self, decision: Decision, drops: Drops = Drops()) -> str:
        head = f"{format_clock(decision.time)}  {decision.label:<{self._width}}"
        if decision.label == SILENCE:
            line = head
        else:
            name_width = max(len(x) for x in self.labels)
            bars = "  ".join(
                f"{name:>{name_width}} {bar(p, 8, self.ascii_only)} {p:.2f}"
                for name, p in top_k(self.labels, decision.probs)
            )
            line = f"{head} {decision.confidence:4.2f}  | {bars}"
        if self.speaker:
            line += f"  [{decision.speaker or 'nobody'}]"
        if self.show_drops and drops.samples > self._reported_drops:
            line += f"  [dropped {drops.samples} samples so far]"
            self._reported_drops = drops.samples
        return line.rstrip()

    def emit(self, decision: Decision, drops: Drops = Drops()) -> None:
        self.stream.write(self.format(decision, drops) + "\n")
        self.stream.flush()


class JsonLines:
    """One JSON object per event: the full picture for a program downstream.

    ``speaker`` (``--speaker`` given): each object also names the enrolled speaker in use
    (``"speaker": "alice"``, or null while ``auto`` has picked nobody); without it the objects
    have no such key. The same objects go to stdout, serve's /events and MQTT."""

    def __init__(self, labels: tuple[str, ...], stream: IO[str] | None = None,
                 source: str | None = None, speaker: bool = False) -> None:
        self.labels = tuple(labels)
        self.stream = stream or sys.stdout
        self.source = source
        self.speaker = speaker

    def record(self, decision: Decision, drops: Drops = Drops(),
               wall_time: float | None = None) -> dict[str, Any]:
        wall = _time.time() if wall_time is None else wall_time
        record: dict[str, Any] = {
            "timestamp": _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(wall))
            + f".{int((wall % 1) * 1000):03d}Z",
            "t": round(decision.time, 3),
            "label": decision.label,
            "confidence": round(decision.confidence, 4),
            "speech": bool(decision.speech),
            "speech_ratio": round(decision.speech_ratio, 3),
            "probabilities": {k: round(float(p), 4) for k, p in zip(self.labels, decision.probs,
                                                                    strict=True)},
            "dropped": {"samples": int(drops.samples), "overflows": int(drops.overflows)},
        }
        if self.source is not None:
            record["source"] = self.source
        if self.speaker:
            record["speaker"] = decision.speaker
        return record

    def emit(self, decision: Decision, drops: Drops = Drops()) -> None:
        write_json_line(self.record(decision, drops), self.stream)


def to_json(obj: dict[str, Any]) -> str:
    """The one JSON encoding of a record (stdout lines, server-sent events, MQTT payloads)."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def write_json_line(obj: dict[str, Any], stream: IO[str] | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(to_json(obj) + "\n")
    stream.flush()


def format_file_result(path: str, result: Any, labels: tuple[str, ...],
                       speaker: bool = False) -> str:
    """One ``classify`` line, the label meaning what it means in ``listen``:
    ``clip.wav: angry 0.82  (angry 0.82, sad 0.10, calm 0.05)``,
    ``clip.wav: uncertain 0.32  (angry 0.32, ...)`` or ``clip.wav: silence  (no speech in 3
    windows)``; with ``speaker`` (``--speaker`` given) ending in ``[alice]``. ``result`` is an
    :class:`edge.pipeline.FileResult`."""
    who = f"  [{result.speaker or 'nobody'}]" if speaker else ""
    if result.label == SILENCE:
        n = result.windows
        return f"{path}: {SILENCE}  (no speech in {n} window{'' if n == 1 else 's'}){who}"
    tops = ", ".join(f"{n} {p:.2f}" for n, p in top_k(labels, result.probs))
    return f"{path}: {result.label} {result.confidence:.2f}  ({tops}){who}"


def file_result_record(path: str, result: Any, labels: tuple[str, ...],
                       speaker: bool = False) -> dict[str, Any]:
    """The JSON object of one ``classify`` result: ``label`` as in ``listen`` (emotion,
    ``uncertain`` or ``silence``, whose confidence is 0), ``top`` the models' top label;
    ``level_dbfs`` how loud its speech is (edge.level); with ``speaker`` (``--speaker``
    given) also the speaker most speech windows used."""
    record = {
        "file": path, "label": result.label, "confidence": round(result.confidence, 4),
        "speech": result.speech_windows > 0, "top": result.top,
        "probabilities": {k: round(float(p), 4) for k, p in zip(labels, result.probs,
                                                                strict=True)},
        "windows": result.windows, "speech_windows": result.speech_windows,
        "seconds": round(result.seconds, 3),
        "level_dbfs": None if result.level_dbfs is None else round(result.level_dbfs, 1)}
    if speaker:
        record["speaker"] = result.speaker
    return record
