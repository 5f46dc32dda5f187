"""Live lines and JSON lines: content, fallbacks, one flush per event."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from edge.decisions import SILENCE, UNCERTAIN, Decision
from edge.outputs import (
    Drops,
    JsonLines,
    LiveLine,
    bar,
    file_result_record,
    format_clock,
    format_file_result,
    top_k,
)
from edge.pipeline import FileResult

LABELS = ("neutral", "happy", "angry", "sad")


def decision(label: str, probs: list[float], t: float = 12.5, speech: bool = True,
             new: bool = True) -> Decision:
    p = np.asarray(probs, dtype=np.float32)
    conf = 0.0 if label == SILENCE else float(p.max())
    return Decision(t, label, conf, p, speech, 0.8 if speech else 0.0, new)


class Recorder(io.StringIO):
    def __init__(self, encoding: str = "utf-8") -> None:
        super().__init__()
        self.flushes = 0
        self._encoding = encoding

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    def flush(self) -> None:
        self.flushes += 1


def test_clock_and_bar() -> None:
    assert format_clock(12.5) == "00:12.5"
    assert format_clock(754.25) == "12:34.2"
    assert format_clock(3725.0) == "1:02:05.0"
    assert len(bar(0.37, 10)) == 10 and bar(1.0, 4) == "████" and bar(0.0, 3) == "   "
    assert bar(0.5, 4, ascii_only=True) == "##.."
    assert top_k(LABELS, np.array([0.1, 0.5, 0.3, 0.1])) == [("happy", 0.5), ("angry", 0.3),
                                                              ("neutral", 0.1)]


def test_live_line_shows_label_confidence_and_top_three() -> None:
    out = Recorder()
    line = LiveLine(LABELS, out)
    line.emit(decision("angry", [0.05, 0.15, 0.7, 0.1]))
    text = out.getvalue()
    assert text.startswith("00:12.5  angry") and text.endswith("\n") and out.flushes == 1
    assert "0.70" in text and "happy" in text and "sad" in text and "neutral" not in text
    assert text.index("angry █") < text.index("happy") < text.index("sad")


def test_live_line_states_and_drops() -> None:
    out = Recorder()
    line = LiveLine(LABELS, out)
    line.emit(decision(SILENCE, [0, 0, 0, 0], speech=False))
    line.emit(decision(UNCERTAIN, [0.3, 0.3, 0.25, 0.15]), Drops(1600, 2))
    line.emit(decision("angry", [0.0, 0.1, 0.9, 0.0]), Drops(1600, 2))
    rows = out.getvalue().splitlines()
    assert rows[0] == "00:12.5  silence"
    assert "uncertain" in rows[1] and "[dropped 1600 samples so far]" in rows[1]
    assert "dropped" not in rows[2]  # said once, until more is lost
    assert out.flushes == 3


def test_ascii_terminal_gets_ascii_bars() -> None:
    out = Recorder(encoding="ascii")
    LiveLine(LABELS, out).emit(decision("angry", [0.0, 0.1, 0.9, 0.0]))
    text = out.getvalue()
    text.encode("ascii")
    assert "#" in text


def test_json_lines_carry_everything() -> None:
    out = Recorder()
    writer = JsonLines(LABELS, out, source="mic")
    writer.emit(decision("angry", [0.05, 0.15, 0.7, 0.1], t=3.25), Drops(320, 1))
    writer.emit(decision(SILENCE, [0, 0, 0, 0], t=4.0, speech=False))
    first, second = (json.loads(x) for x in out.getvalue().splitlines())
    assert out.flushes == 2
    assert first["label"] == "angry" and first["confidence"] == 0.7 and first["t"] == 3.25
    assert first["speech"] is True and first["source"] == "mic"
    assert list(first["probabilities"]) == list(LABELS)
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)
    assert first["dropped"] == {"samples": 320, "overflows": 1}
    assert first["timestamp"].endswith("Z") and "T" in first["timestamp"]
    assert second["label"] == "silence" and second["speech"] is False


def _file(label: str, conf: float, probs: list[float], speech_windows: int = 2) -> FileResult:
    p = np.array(probs, dtype=np.float32)
    return FileResult(label, conf, p, LABELS[int(np.argmax(p))], 3, speech_windows, 2.0)


def test_file_result_line() -> None:
    text = format_file_result("clip.wav", _file("angry", 0.82, [0.03, 0.05, 0.82, 0.1]), LABELS)
    assert text == "clip.wav: angry 0.82  (angry 0.82, sad 0.10, happy 0.05)"
    low = _file(UNCERTAIN, 0.32, [0.2, 0.24, 0.32, 0.24])
    assert format_file_result("a.wav", low, LABELS).startswith("a.wav: uncertain 0.32  (angry")
    quiet = _file(SILENCE, 0.0, [0.1, 0.2, 0.6, 0.1], speech_windows=0)
    one = FileResult(SILENCE, 0.0, quiet.probs, "angry", 1, 0, 0.1)
    assert format_file_result("o.wav", one, LABELS) == "o.wav: silence  (no speech in 1 window)"
    assert format_file_result("q.wav", quiet, LABELS) == "q.wav: silence  (no speech in 3 windows)"


def test_file_result_record_means_what_a_live_record_means() -> None:
    quiet = file_result_record("q.wav", _file(SILENCE, 0.0, [0.1, 0.2, 0.6, 0.1], 0), LABELS)
    assert quiet["label"] == SILENCE and quiet["confidence"] == 0.0 and quiet["speech"] is False
    assert quiet["top"] == "angry"  # what the models would say, kept apart from the label
    live = JsonLines(LABELS).record(
        Decision(1.0, SILENCE, 0.0, np.zeros(4, np.float32), False, 0.0, True), wall_time=0.0)
    assert {k: quiet[k] for k in ("label", "confidence", "speech")} == \
        {k: live[k] for k in ("label", "confidence", "speech")}
