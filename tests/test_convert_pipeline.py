"""`edge-ser convert` end to end on a tiny real run: tf_keras members trained here, pruned,
converted to int8, loaded through edge's manifest loader and interpreter, compared with Keras."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
pytest.importorskip("ai_edge_litert")

from edge.errors import ConfigError, ModelError
from edge.frontend.config import FrontendConfig
from edge.frontend.kinds import feature_dim
from edge.manifest import Manifest

Converted = tuple[Any, list[str]]  # (convert.pipeline.ConvertResult, progress lines)

pytestmark = [
    pytest.mark.slow, pytest.mark.tf,
    pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file"),
    pytest.mark.filterwarnings("ignore:distutils Version classes are deprecated"),
    pytest.mark.filterwarnings("ignore:Statistics for quantized inputs were expected"),
]

LABELS = ["neutral", "happy", "sad", "angry"]
FRONTEND = FrontendConfig(n_mels=16, n_mfcc=12)
WINDOW = {"seconds": 0.5, "hop_seconds": 0.25, "frames": 50}  # 0.5 s at 100 frames/s
KINDS = ("mfcc", "logmel")
WINDOWS_PER_FILE = 4


def _windows(kind: str, actors: list[int], seed: int) -> dict[str, np.ndarray]:
    """Class-dependent, un-normalised feature windows: a class pattern over time + noise."""
    dim = feature_dim(FRONTEND, kind)
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(100 + dim).normal(size=(len(LABELS), 5, dim))
    X, y, files = [], [], []
    file_id = 1000 * actors[0]
    for _actor in actors:
        for label in [c for c in range(len(LABELS)) for _ in range(3)]:
            offset = rng.normal(scale=0.3, size=dim)
            for _ in range(WINDOWS_PER_FILE):
                shape = np.repeat(patterns[label], 10, axis=0)  # [50, dim]
                X.append(5.0 + 3.0 * (shape + offset + rng.normal(scale=2.5, size=(50, dim))))
                y.append(label)
                files.append(file_id)
            file_id += 1
    return {"X": np.asarray(X, dtype=np.float16), "y": np.asarray(y, dtype=np.int64),
            "file": np.asarray(files, dtype=np.int64)}


def _member(keras: Any, dim: int, seed: int) -> Any:
    """The training engineer's cnn_lstm in miniature (window CMN, conv+BN, LSTM, softmax)."""
    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input((50, dim), name="features")
    mean = L.GlobalAveragePooling1D(keepdims=True)(inp)
    x = L.Subtract()([inp, mean])
    x = L.Conv1D(16, 5, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    x = L.MaxPool1D(2)(x)
    x = L.LSTM(16)(x)
    x = L.Dropout(0.1)(x)
    out = L.Dense(len(LABELS), activation="softmax", name="probs")(x)
    return keras.Model(inp, out)


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez cannot take a key named "file" (its own first parameter): write the zip here."""
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", "w") as fh:
                np.lib.format.write_array(fh, np.asarray(value))


def _write_set(root: Path, name: str, train: dict[str, Any], test: dict[str, Any] | None,
               norm: dict[str, Any], members: list[dict[str, Any]], train_actors: list[int],
               test_actors: list[int]) -> Path:
    d = root / name
    (d / "data").mkdir(parents=True)
    for kind in KINDS:
        _savez(d / "data" / f"train-{kind}.npz", train[kind])
        if test is not None:
            _savez(d / "data" / f"test-{kind}.npz", test[kind])
    meta = {"labels": LABELS, "frontend": FRONTEND.to_dict(), "window": WINDOW, "voting": "soft",
            "normalization": norm, "members": members, "train_actors": train_actors,
            "val_actors": [], "test_actors": test_actors}
    (d / "set.json").write_text(json.dumps(meta))
    return d


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """run/{fold-1 (test actors 5, 6), final (no test actors)}, two members each."""
    from convert.tfenv import held_stderr, import_tf

    with held_stderr():
        _, keras = import_tf()
    root = tmp_path_factory.mktemp("run")
    train_actors, test_actors = [1, 2, 3, 4], [5, 6]
    train = {k: _windows(k, train_actors, seed=i) for i, k in enumerate(KINDS)}
    test = {k: _windows(k, test_actors, seed=10 + i) for i, k in enumerate(KINDS)}
    # the same windows in every kind: the ensemble is scored window by window
    for k in KINDS[1:]:
        for part in (train, test):
            part[k]["y"], part[k]["file"] = part[KINDS[0]]["y"], part[KINDS[0]]["file"]
    norm = {}
    for k in KINDS:
        x = train[k]["X"].astype(np.float64).reshape(-1, feature_dim(FRONTEND, k))
        norm[k] = {"mean": x.mean(0).tolist(), "std": x.std(0).tolist()}
    members = []
    for i, k in enumerate(KINDS):
        mean, std = (np.asarray(norm[k][s], dtype=np.float32) for s in ("mean", "std"))
        m = _member(keras, feature_dim(FRONTEND, k), seed=i)
        m.compile("adam", "sparse_categorical_crossentropy")
        xn = (train[k]["X"].astype(np.float32) - mean) / std
        m.fit(xn, train[k]["y"], epochs=6, batch_size=16, verbose=0)
        name = f"m{i + 1}-{k}"
        (root / "models").mkdir(exist_ok=True)
        m.save(root / "models" / f"{name}.h5")
        members.append({"name": name, "feature": k, "file": f"{name}.h5", "weight": 0.5 + i / 4,
                        "arch": "cnn_lstm", "seed": i})
    fold = _write_set(root, "fold-1", train, test, norm, members, train_actors, test_actors)
    final = _write_set(root, "final", train, None, norm, members, train_actors + test_actors, [])
    for d in (fold, final):
        for m in members:
            shutil.copy(root / "models" / m["file"], d / m["file"])
    (root / "run.json").write_text(json.dumps({
        "format": "edge-ser-run", "version": 1, "config": {}, "labels": LABELS,
        "frontend": FRONTEND.to_dict(), "window": WINDOW, "voting": "soft",
        "sets": ["fold-1", "final"]}))
    return root


@pytest.fixture(scope="module")
def converted(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Converted:
    """fold-1 pruned to 50 % and converted to int8 (fused LSTM)."""
    from convert.pipeline import ConvertOptions, convert
    from convert.prune import PruneOptions
    from convert.quantize import QuantizeOptions

    out = tmp_path_factory.mktemp("out") / "models"
    lines: list[str] = []
    opts = ConvertOptions(source=run_dir, out=out, set_name="fold-1",
                          quant=QuantizeOptions(mode="int8", unroll=False, representative=100),
                          prune=PruneOptions(sparsity=0.5, epochs=4))
    result = convert(opts, lines.append)
    return result, lines


def _keras_model(path: Path) -> Any:
    from convert.tfenv import import_tf

    _, keras = import_tf()
    return keras.models.load_model(path, compile=False)


def _test_windows(run_dir: Path, kind: str, manifest: Manifest) -> np.ndarray:
    from convert.runs import normalize

    spec = manifest.features[kind]
    X = np.load(run_dir / "fold-1" / "data" / f"test-{kind}.npz")["X"]
    return normalize(X, np.asarray(spec.mean), np.asarray(spec.std))


def test_converted_folder_loads_on_the_device_and_agrees_with_keras(converted: Converted,
                                                                   run_dir: Path) -> None:
    from edge.interpreter import load_members
    from edge.manifest import load_manifest

    result, lines = converted
    manifest = load_manifest(result.out)  # validates everything and checks every sha256
    assert [m.name for m in manifest.members] == ["m1-mfcc", "m2-logmel"]
    assert manifest.voting == "soft" and manifest.labels == tuple(LABELS)
    assert manifest.window.frames == 50 and manifest.members[1].weight == 0.75
    for mb in manifest.members:
        assert mb.input.dtype == "int8" and mb.output.dtype == "int8"
        assert mb.input.shape == (1, 50, feature_dim(FRONTEND, mb.feature))
        assert mb.input.quantization is not None and mb.input.quantization.scale > 0
    meta = manifest.metadata
    assert meta["source"]["set"] == "fold-1" and meta["conversion"]["mode"] == "int8"
    assert meta["pruning"]["target_sparsity"] == 0.5
    assert meta["verification"]["evaluated_on"].startswith("held-out test actors 5, 6")
    assert sorted(p.name for p in result.out.iterdir()) == [
        "conversion-report.json", "conversion-report.md", "m1-mfcc.tflite", "m2-logmel.tflite",
        "manifest.json"]
    assert not list(result.out.parent.glob(".models.*")), "staging folder left behind"
    assert any("[2/2] m2-logmel" in ln for ln in lines)

    # the device's own interpreter vs the pruned Keras model: the conversion alone
    runners = load_members(manifest)
    for mb, runner in zip(manifest.members, runners, strict=True):
        x = _test_windows(run_dir, mb.feature, manifest)
        tfl = np.stack([runner.predict(w) for w in x])
        ref = result.report  # the float reference of the report is the trained member
        keras_probs = _keras_model(run_dir / "fold-1" / f"{mb.name}.h5").predict(x, verbose=0)
        entry = next(e for e in ref["members"] if e["name"] == mb.name)
        agreement = np.mean(tfl.argmax(1) == keras_probs.argmax(1))
        assert agreement == pytest.approx(entry["int8_vs_float"]["agreement"])
        assert entry["int8_vs_pruned"]["agreement"] >= 0.9
        assert entry["int8_vs_pruned"]["mean_abs_dp"] < 0.05
        assert 0.45 <= entry["sparsity"] <= 0.55
        assert all(0.45 <= v <= 0.55 for v in entry["layer_sparsity"].values())


def test_report_has_scores_sizes_and_ops(converted: Converted) -> None:
    result, _ = converted
    report = json.loads((result.out / "conversion-report.json").read_text())
    e = report["ensemble"]
    assert e["members"] == 2 and e["float"]["windows"]["uar"] > 0.5
    assert e["bytes"] == sum((result.out / f"{n}.tflite").stat().st_size
                             for n in ("m1-mfcc", "m2-logmel"))
    assert 0 < e["gzip_bytes"] < e["bytes"]
    assert report["targets"]["size_ok"] and report["targets"]["tflite_runtime_2_14_ok"]
    for m in report["members"]:
        ops = {o["op"]: o for o in m["ops"]}
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops and "CONV_2D" in ops
        assert all(o["version"] >= 1 and o["count"] >= 1 for o in m["ops"])
    md = (result.out / "conversion-report.md").read_text()
    assert "## Ensemble (soft voting, 2 members)" in md and "tflite-runtime 2.14" in md
    assert "Sparsity per layer" in md


def test_flatbuffer_op_list_matches_the_interpreter(converted: Converted) -> None:
    from convert.tflite_ops import read_ops
    from edge.interpreter import MemberModel

    result, _ = converted
    path = result.out / "m1-mfcc.tflite"
    runner = MemberModel(path, use_xnnpack=False)
    ops = read_ops(path.read_bytes())
    assert [u.name for u in ops] == runner.op_names()
    details = runner.interpreter._get_ops_details()
    assert sum(u.count for u in ops) == len(details)


def test_fused_lstm_keeps_state_unless_reset(converted: Converted, run_dir: Path) -> None:
    """The trap: without a reset the second window starts from the first one's LSTM state."""
    from edge.interpreter import MemberModel
    from edge.manifest import load_manifest

    result, _ = converted
    manifest = load_manifest(result.out)
    mb = manifest.members[0]
    runner = MemberModel(manifest.member_path(mb), mb)
    x = _test_windows(run_dir, mb.feature, manifest)
    a, b = x[0], x[-1]
    fresh = runner.predict(b)
    assert np.array_equal(runner.predict(b), fresh)  # reset: the same window, the same output
    runner.predict(a)
    stale = runner.predict(b, reset_state=False)
    assert np.abs(stale - fresh).max() > 1e-3, "fused LSTM should carry state between invokes"
    assert np.array_equal(runner.predict(b), fresh)


def test_unrolled_lstm_has_no_state_and_no_fused_op(run_dir: Path, tmp_path: Path) -> None:
    from convert.quantize import QuantizeOptions, fixed_batch, to_tflite
    from convert.runs import load_set, normalize
    from convert.tflite_ops import read_ops
    from edge.interpreter import MemberModel

    ms = load_set(run_dir / "fold-1")
    src = ms.members[0]
    model = _keras_model(ms.member_path(src))
    w = ms.windows("train", src.feature)
    x = normalize(w.X[:64], *ms.info.normalization[src.feature])
    fixed = fixed_batch(model, unroll=True)
    assert fixed.input_shape == (1, 50, 12) and model.input_shape == (None, 50, 12)
    data = to_tflite(fixed, x, QuantizeOptions(unroll=True))
    names = {u.name for u in read_ops(data)}
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in names and "FULLY_CONNECTED" in names
    path = tmp_path / "u.tflite"
    path.write_bytes(data)
    runner = MemberModel(path)
    fresh = runner.predict(x[1])
    runner.predict(x[0])
    assert np.array_equal(runner.predict(x[1], reset_state=False), fresh)
    probs = model.predict(x, verbose=0)
    tfl = np.stack([runner.predict(v) for v in x])
    assert np.mean(tfl.argmax(1) == probs.argmax(1)) >= 0.9


def test_unsupported_op_version_is_flagged_for_tflite_runtime_2_14(run_dir: Path) -> None:
    """Dynamic-range FULLY_CONNECTED from TF 2.21 is v12; tflite-runtime 2.14 stops at v10."""
    from convert.quantize import QuantizeOptions, fixed_batch, to_tflite
    from convert.runs import load_set
    from convert.tflite_ops import read_ops, unsupported

    ms = load_set(run_dir / "fold-1")
    data = to_tflite(fixed_batch(_keras_model(ms.member_path(ms.members[0])), unroll=True), None,
                     QuantizeOptions(mode="dynamic"))
    ops = read_ops(data)
    fc = next(u for u in ops if u.name == "FULLY_CONNECTED")
    assert fc.version > 10 and not fc.tflite_runtime_2_14
    assert f"FULLY_CONNECTED v{fc.version} (supports up to v10)" in unsupported(ops)


def test_final_set_via_cli_replaces_models_and_is_honest_about_what_it_scored(
        converted: Converted, run_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from edge.cli import main
    from edge.manifest import load_manifest

    result, _ = converted
    out = tmp_path / "models"
    shutil.copytree(result.out, out)  # a previous conversion, replaced atomically with --force
    rc = main(["convert", str(run_dir), "--out", str(out), "--sparsity", "0", "--force",
               "--representative", "50", "--verify-windows", "80", "--verify-set", "fold-1"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "tensorflow" not in captured.err.lower() and "I0000" not in captured.err
    assert "set final" in captured.out and "wrote" in captured.out
    manifest = load_manifest(out)
    assert manifest.metadata["source"]["set"] == "final"
    assert manifest.metadata["pruning"] is None
    assert "training windows" in manifest.metadata["verification"]["evaluated_on"]
    assert "held-out test actors 5, 6" in manifest.metadata["verification"]["proxy"]["evaluated_on"]
    md = (out / "conversion-report.md").read_text()
    assert "no held-out actors" in md and "optimistic" in md
    assert "# Held-out proxy (--verify-set)" in md and "held-out proxy (fold-1)" in captured.out
    assert not list(tmp_path.glob(".models.*"))
    rc = main(["convert", str(run_dir), "--out", str(out)])
    assert rc == 2 and "--force" in capsys.readouterr().err  # exists: refused without --force


RT214_CHILD = """
import json, sys
import numpy as np
from tflite_runtime.interpreter import Interpreter
out = {}
for path, x in zip(sys.argv[1::2], sys.argv[2::2]):
    it = Interpreter(path, num_threads=1)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    it.set_tensor(i["index"], np.load(x))
    it.invoke()
    out[path] = it.get_tensor(o["index"]).tolist()
print(json.dumps(out))
"""


@pytest.mark.skipif(not os.environ.get("EDGE_SER_TFLITE_RUNTIME_PYTHON"),
                    reason="EDGE_SER_TFLITE_RUNTIME_PYTHON: a python with tflite-runtime 2.14")
def test_members_run_bit_exact_on_tflite_runtime_2_14(converted: Converted, run_dir: Path,
                                                      tmp_path: Path) -> None:
    """The old wheel of 32-bit Pi OS (numpy<2, so another venv) gives the same int8 outputs."""
    from edge.interpreter import MemberModel
    from edge.manifest import load_manifest

    manifest = load_manifest(converted[0].out)
    args, expected = [], {}
    for mb in manifest.members:
        runner = MemberModel(manifest.member_path(mb), mb, use_xnnpack=False)
        q = runner.quantize(_test_windows(run_dir, mb.feature, manifest)[0])
        np.save(tmp_path / f"{mb.name}.npy", q)
        args += [str(manifest.member_path(mb)), str(tmp_path / f"{mb.name}.npy")]
        runner.predict(_test_windows(run_dir, mb.feature, manifest)[0])
        expected[args[-2]] = runner.interpreter.get_tensor(runner._out["index"]).tolist()
    out = subprocess.run([os.environ["EDGE_SER_TFLITE_RUNTIME_PYTHON"], "-c", RT214_CHILD, *args],
                         capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expected


# ---- bad input: a clear error naming the member, and MODELS_DIR untouched -------------------
def _copy_set(run_dir: Path, tmp_path: Path) -> Path:
    d = tmp_path / "fold-1"
    shutil.copytree(run_dir / "fold-1", d)
    return d


def _assert_nothing_written(out: Path) -> None:
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def test_member_that_does_not_load_is_named_and_nothing_is_written(run_dir: Path,
                                                                   tmp_path: Path) -> None:
    from convert.pipeline import ConvertOptions, convert
    from convert.prune import PruneOptions
    from convert.quantize import QuantizeOptions

    d = _copy_set(run_dir, tmp_path)
    (d / "m2-logmel.h5").write_bytes(b"not an HDF5 file")  # the 1st member converts, the 2nd not
    out = tmp_path / "out" / "models"
    with pytest.raises(ModelError, match="member 'm2-logmel'"):
        convert(ConvertOptions(source=d, out=out, quant=QuantizeOptions(representative=20),
                               prune=PruneOptions(sparsity=0)), lambda _: None)
    _assert_nothing_written(out)


def test_representative_windows_of_the_wrong_shape_are_refused(run_dir: Path,
                                                               tmp_path: Path) -> None:
    from convert.pipeline import ConvertOptions, convert
    from convert.prune import PruneOptions

    d = _copy_set(run_dir, tmp_path)
    z = dict(np.load(d / "data" / "train-mfcc.npz"))
    z["X"] = z["X"][:, :40, :]  # windows of 40 frames, the member takes 50
    _savez(d / "data" / "train-mfcc.npz", z)
    out = tmp_path / "models"
    with pytest.raises(ConfigError, match=r"member 'm1-mfcc'.*\[n, 50, 12\]"):
        convert(ConvertOptions(source=d, out=out, prune=PruneOptions(sparsity=0)), lambda _: None)
    _assert_nothing_written(out)


def test_pruning_fine_tune_keeps_the_batchnorm_statistics() -> None:
    """Re-estimating batch-norm on the few clean fine-tune windows cost 5 UAR points on
    RAVDESS (train/results/ravdess-20-5fold/README.md); the statistics of the full training
    must survive pruning while the kernels reach the target sparsity."""
    from convert.prune import PruneOptions, prune
    from convert.tfenv import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(0)
    inp = keras.Input((20, 4), batch_size=None)
    x = keras.layers.Conv1D(8, 3, padding="same", use_bias=False, name="conv1")(inp)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    out = keras.layers.Dense(3, activation="softmax", name="out")(x)
    model = keras.Model(inp, out)
    bn = model.get_layer("bn1")
    bn.set_weights([np.ones(8), np.zeros(8), np.full(8, 0.5), np.full(8, 2.0)])
    rng = np.random.default_rng(0)
    X = (5.0 + 3.0 * rng.standard_normal((64, 20, 4))).astype(np.float32)  # far from BN stats
    y = rng.integers(0, 3, 64)
    res = prune(model, X, y, PruneOptions(sparsity=0.5, epochs=2, batch_size=16))
    mean, var = res.model.get_layer("bn1").get_weights()[2:]
    np.testing.assert_allclose(mean, 0.5)
    np.testing.assert_allclose(var, 2.0)
    assert 0.45 <= res.layers["conv1"] <= 0.55
    assert "out" not in res.layers  # the output layer keeps every weight
