"""The `stats` member (window mean and spread into an MLP): it learns what the statistics
separate, converts to full-integer int8 with ops every supported interpreter has, and runs on
the device interpreter in agreement with Keras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _data(n: int, frames: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: low spread; class 1: high spread; the same mean, so only the spread tells."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    scale = np.where(y == 1, 2.0, 0.5)[:, None, None]
    x = rng.standard_normal((n, frames, dim)) * scale
    return x.astype(np.float32), y.astype(np.int64)


def test_stats_member_learns_spread_and_runs_in_int8(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from convert.quantize import QuantizeOptions, to_tflite
    from convert.tflite_ops import read_ops, unsupported
    from edge.interpreter import MemberModel
    from train.config import TrainConfig
    from train.fit import fit_member
    from train.members import build_member, with_batch_size

    frames, dim = 50, 6
    cfg = TrainConfig(epochs=6, batch_size=32, aug_copies=0, mixup_alpha=0.0,
                      specaug_time_masks=0, specaug_freq_masks=0, stats_units=[16],
                      lr_schedule="constant", early_stopping=False)
    x, y = _data(600, frames, dim, 0)
    res = fit_member(lambda: build_member("stats", frames, dim, 2, cfg), x, y, None, cfg, 2,
                     seed=1, out_dir=tmp_path, name="m1", log=lambda s: None)
    xt, yt = _data(200, frames, dim, 1)
    keras_p = res.model.predict(xt, verbose=0)
    assert (keras_p.argmax(1) == yt).mean() > 0.9  # the spread is what it reads

    fixed = with_batch_size(res.model, "stats", cfg)
    blob = to_tflite(fixed, x[:100], QuantizeOptions(mode="int8"))
    ops = read_ops(blob)
    assert not unsupported(ops), unsupported(ops)
    assert "LSTM" not in {o.name for o in ops} and "SQRT" not in {o.name for o in ops}
    path = tmp_path / "m1.tflite"
    path.write_bytes(blob)
    member = MemberModel(path)
    lite_p = np.stack([member.predict(w) for w in xt])
    assert (lite_p.argmax(1) == keras_p.argmax(1)).mean() > 0.97
    assert np.abs(lite_p - keras_p).max() < 0.1
