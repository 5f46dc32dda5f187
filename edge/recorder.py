"""Saving what ``listen --record`` heard, as a 16-bit WAV."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np

from edge.errors import AudioError


class WavRecorder:
    """Append what was heard to a 16-bit WAV (only with ``listen --record``)."""

    def __init__(self, path: str | os.PathLike[str], sample_rate: int) -> None:
        self.path = Path(path)
        try:
            self._fh = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        except OSError as exc:
            raise AudioError(f"cannot record to {self.path}: {exc.strerror or exc}") from None
        self._wav = wave.open(self._fh, "wb")  # noqa: SIM115
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self.samples = 0

    def write(self, chunk: np.ndarray) -> None:
        pcm = np.clip(np.rint(np.asarray(chunk) * 32768.0), -32768, 32767).astype("<i2")
        self._wav.writeframes(pcm.tobytes())
        self.samples += pcm.size

    def close(self) -> None:
        self._wav.close()  # writes the final sizes into the header
        self._fh.close()
