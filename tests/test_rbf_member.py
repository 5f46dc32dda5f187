"""The `rbf` member (window statistics → Gaussian kernels → logistic regression, fitted in closed
form): the Keras export computes what the NumPy fit does, it learns a boundary no linear model
on the statistics can draw, survives .h5, pruning and the training loop's worker, and runs in
full-integer int8 on the device interpreter in agreement with Keras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.errors import ConfigError

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _xor_data(n: int, frames: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four classes: whether two coefficients' window means share a sign (an XOR: no linear
    function of the statistics tells it), and a third coefficient's mean (linear); noise in
    every frame."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    means = np.zeros((n, dim))
    means[:, 0] = rng.choice([-1.0, 1.0], n)
    means[:, 1] = np.where(y % 2 == 0, 1.0, -1.0) * means[:, 0]
    means[:, 2] = np.where(y < 2, 0.0, 2.0)
    x = means[:, None, :] + 0.7 * rng.standard_normal((n, frames, dim))
    return x.astype(np.float32), y.astype(np.int64)


def _cfg(**kw: object):
    from train.config import TrainConfig

    return TrainConfig(rbf_centres=48, rbf_kmeans_windows=400, **kw)


def test_fit_rbf_probe_options_reach_the_fit() -> None:
    """``centre_rows`` standardises on and draws centres from those windows only;
    ``gamma_scale`` widens the kernel (benchmarks/rbf_augment_probe.py relies on both)."""
    pytest.importorskip("sklearn")
    from train.rbf import fit_rbf, window_statistics

    x, y = _xor_data(300, 20, 4, 0)
    x[150:] += 5.0  # a shifted copy: statistics from the first half differ
    cfg = _cfg()
    full = fit_rbf(x, y, 4, cfg, seed=1)
    first = fit_rbf(x, y, 4, cfg, seed=1, centre_rows=np.arange(150), gamma_scale=0.5)
    np.testing.assert_allclose(first.mu, window_statistics(x[:150], cfg.rbf_spread).mean(0))
    assert not np.allclose(full.mu, first.mu)
    assert first.gamma == pytest.approx(full.gamma / 2)
    # centres in the first half's standardised units: near its statistics, not the shift's
    z = (window_statistics(x, cfg.rbf_spread) - first.mu) / first.sd
    d_first = ((first.centres[:, None] - z[None, :150]) ** 2).sum(-1).min(1)
    d_shift = ((first.centres[:, None] - z[None, 150:]) ** 2).sum(-1).min(1)
    assert (d_first < d_shift).all()


@pytest.mark.parametrize("spread", ["mad", "var"])
def test_window_statistics_are_the_members_layers(spread: str) -> None:
    pytest.importorskip("tensorflow")
    import tf_keras as keras

    from train.members import build_member
    from train.rbf import window_statistics

    x, _ = _xor_data(40, 30, 5, 0)
    x[:, :, 3] *= 3.0  # a coefficient with a larger spread
    model = build_member("rbf", 30, 5, 4, _cfg(rbf_spread=spread))
    stats = keras.Model(model.input, model.get_layer("stats").output).predict(x, verbose=0)
    ours = window_statistics(x, spread)
    np.testing.assert_allclose(stats, ours, atol=1e-4)
    assert ours[:, 5 + 3].mean() > 2 * ours[:, 5 + 2].mean()  # the spread column reads it


def test_rbf_member_learns_xor_and_export_equals_the_fit(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("sklearn")
    from train.members import build_member
    from train.rbf import fit_rbf_member

    frames, dim = 40, 5
    cfg = _cfg()
    x, y = _xor_data(800, frames, dim, 0)
    xv, yv = _xor_data(120, frames, dim, 1)
    files = np.arange(len(yv))
    res = fit_rbf_member(lambda: build_member("rbf", frames, dim, 4, cfg), x, y,
                         (xv, yv, files), cfg, 4, seed=1)
    assert res.best_val > 0.9  # validation UAR: the XOR is learnt
    assert res.history["val_uar"] == [res.best_val]
    from train.rbf import fit_rbf

    fit = fit_rbf(x, y, 4, cfg, seed=1)
    keras_p = res.model.predict(xv, verbose=0)
    np.testing.assert_allclose(keras_p, fit.probs(xv), atol=2e-4)
    # a linear model on the same statistics cannot: the kernel is doing the work
    from sklearn.linear_model import LogisticRegression

    from train.rbf import window_statistics

    lin = LogisticRegression(max_iter=2000).fit(window_statistics(x), y)
    assert (lin.predict(window_statistics(xv)) == yv).mean() < 0.7
    # .h5 round trip (the training loop saves, conversion loads)
    import tf_keras as keras

    res.model.save(tmp_path / "m.h5")
    back = keras.models.load_model(tmp_path / "m.h5", compile=False)
    np.testing.assert_allclose(back.predict(xv, verbose=0), keras_p, atol=1e-6)


@pytest.mark.parametrize("spread", ["mad", "var"])
def test_rbf_member_int8_agrees_with_keras_and_pruning_leaves_it_alone(tmp_path: Path,
                                                                      spread: str) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("tensorflow_model_optimization")
    from convert.prune import PruneOptions, prune
    from convert.quantize import QuantizeOptions, fixed_batch, to_tflite
    from convert.tflite_ops import read_ops, unsupported
    from edge.interpreter import MemberModel
    from train.members import build_member
    from train.rbf import fit_rbf_member

    frames, dim = 40, 5
    cfg = _cfg(rbf_spread=spread)
    x, y = _xor_data(800, frames, dim, 0)
    xt, yt = _xor_data(200, frames, dim, 2)
    model = fit_rbf_member(lambda: build_member("rbf", frames, dim, 4, cfg), x, y, None, cfg,
                           4, seed=1).model
    pruned = prune(model, x, y, PruneOptions(sparsity=0.5, epochs=1))
    assert pruned.model is model and pruned.layers == {} and pruned.steps == 0
    keras_p = model.predict(xt, verbose=0)
    blob = to_tflite(fixed_batch(model), x[:200], QuantizeOptions(mode="int8"))
    ops = read_ops(blob)
    assert not unsupported(ops), unsupported(ops)  # tflite-runtime 2.14 runs it (armv7l)
    assert {"EXP", "FULLY_CONNECTED"} <= {o.name for o in ops}
    assert "SQRT" not in {o.name for o in ops}
    path = tmp_path / "m.tflite"
    path.write_bytes(blob)
    member = MemberModel(path)
    lite_p = np.stack([member.predict(w) for w in xt])
    assert (lite_p.argmax(1) == keras_p.argmax(1)).mean() > 0.95
    assert (lite_p.argmax(1) == yt).mean() > 0.85


def test_fit_job_trains_an_rbf_member(tmp_path: Path) -> None:
    """The training loop's worker fits the rbf arch in closed form and saves a loadable .h5."""
    pytest.importorskip("tensorflow")
    import tf_keras as keras

    from train.parallel import FitData, FitJob, fit_job

    frames, dim = 40, 5
    x, y = _xor_data(400, frames, dim, 0)
    data = FitData.write(tmp_path / "data" / "f", (x, y, np.arange(len(y))), None)
    res = fit_job(FitJob("m1-rbf-f", "rbf", data, 1, str(tmp_path / "out"), frames, 4), _cfg(),
                  log=lambda s: None)
    model = keras.models.load_model(res.model_path, compile=False)
    assert model.output_shape == (None, 4)
    assert (model.predict(x, verbose=0).argmax(1) == y).mean() > 0.9


def test_rbf_settings_are_checked() -> None:
    from train.config import MemberSpec, TrainConfig

    assert MemberSpec.parse("rbf:shape+flatness+pitch:1").arch == "rbf"
    with pytest.raises(ConfigError, match="rbf_c"):
        TrainConfig(rbf_c=0.0)
    with pytest.raises(ConfigError, match="rbf_spread"):
        TrainConfig(rbf_spread="std")
    with pytest.raises(ConfigError, match="rbf_centres"):
        TrainConfig(rbf_centres=0)


def test_train_convert_classify_with_an_rbf_member(tiny_corpus: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`edge-ser train` fits an rbf member beside a gradient-trained one; `convert` prunes the
    other and leaves the rbf as fitted; the device classifies with both."""
    pytest.importorskip("tensorflow_model_optimization")
    import json

    from conftest import TINY_TRAIN

    from edge.cli import main
    from edge.manifest import load_manifest

    run = tmp_path / "run"
    rc = main(["train", "--data", str(tiny_corpus), "--out", str(run), "--no-cache",
               "--only", "final", "--no-compare", "--set", "members=rbf:mfcc:1,stats:mfcc:2",
               "--set", "rbf_centres=8", "--set", "baselines=", *TINY_TRAIN])
    assert rc == 0, capsys.readouterr().err
    models = tmp_path / "models"
    rc = main(["convert", str(run), "--out", str(models), "--sparsity", "0.5",
               "--representative", "40", "--verify-windows", "40"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    manifest = load_manifest(models)
    assert [m.name for m in manifest.members] == ["m1-rbf-mfcc", "m2-stats-mfcc"]
    sparsity = manifest.metadata["pruning"]["sparsity"]
    assert sparsity["m1-rbf-mfcc"] == 0.0  # nothing of it pruned
    assert sparsity["m2-stats-mfcc"] > 0.3
    assert "m1-rbf-mfcc: nothing to prune" in captured.out
    wav = next(tiny_corpus.rglob("*.wav"))
    rc = main(["classify", "--models", str(models), "--json", str(wav)])
    out = capsys.readouterr().out
    label = json.loads(out.splitlines()[-1])["label"]
    assert rc == 0 and label in ("neutral", "angry", "uncertain")
