"""Fast checks of `edge-ser convert`'s pieces that need no TensorFlow: reading run folders,
voting and scoring, the op-support table, atomic packaging, and the CLI's contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_cli

from convert import package, verify
from convert.runs import load_set, resolve_set_dir
from convert.tflite_ops import read_ops, supported_by_tflite_runtime_2_14, unsupported
from edge.errors import ConfigError, ModelError
from edge.frontend.config import FrontendConfig

WINDOW = {"seconds": 0.5, "hop_seconds": 0.25, "frames": 50}


def _set(root: Path, name: str, members: list[dict] | None = None, **extra: object) -> Path:
    d = root / name
    d.mkdir(parents=True)
    meta = {"labels": ["a", "b"], "frontend": FrontendConfig().to_dict(), "window": WINDOW,
            "voting": "soft", "normalization": {"rms": {"mean": [0.0], "std": [1.0]}},
            "members": members if members is not None else [], "train_actors": [1],
            "test_actors": [], **extra}
    (d / "set.json").write_text(json.dumps(meta))
    return d


def _run(root: Path, sets: list[str]) -> Path:
    (root / "run.json").write_text(json.dumps({"format": "edge-ser-run", "version": 1,
                                               "sets": sets}))
    return root


# ---- run and set folders ---------------------------------------------------------------------
def test_run_folder_defaults_to_final_and_lists_sets_when_there_is_none(tmp_path: Path) -> None:
    _set(tmp_path, "fold-1")
    _set(tmp_path, "final")
    assert resolve_set_dir(_run(tmp_path, ["fold-1", "final"])) == tmp_path / "final"
    assert resolve_set_dir(tmp_path, "fold-1") == tmp_path / "fold-1"
    assert resolve_set_dir(tmp_path / "fold-1") == tmp_path / "fold-1"
    other = tmp_path / "other"
    _set(other, "fold-1")
    _set(other, "fold-2")
    with pytest.raises(ConfigError, match=r"no 'final' set \(the one to deploy; it has fold-1, "
                       r"fold-2\): train it with `edge-ser train --data DATA --out .*other "
                       r"--final` \(finished folds are kept\), or convert a fold with "
                       r"--set fold-1"):
        resolve_set_dir(_run(other, ["fold-1", "fold-2"]))
    with pytest.raises(ConfigError, match="no set 'fold-9'; its sets are fold-1, fold-2"):
        resolve_set_dir(other, "fold-9")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="neither a training run"):
        resolve_set_dir(tmp_path / "empty")


def test_a_set_without_members_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="lists no members"):
        load_set(_set(tmp_path, "final"))


def test_a_missing_member_file_is_named(tmp_path: Path) -> None:
    d = _set(tmp_path, "final", [{"name": "m1", "feature": "rms", "file": "m1.h5"}])
    with pytest.raises(ModelError, match=r"member 'm1': model file .*m1\.h5 is missing"):
        load_set(d)


def test_window_frames_must_match_the_front_end(tmp_path: Path) -> None:
    d = _set(tmp_path, "final", window={"seconds": 0.5, "hop_seconds": 0.25, "frames": 49})
    with pytest.raises(ConfigError, match=r"window\.frames is 49 but 0\.5 s"):
        load_set(d)


# ---- scoring ---------------------------------------------------------------------------------
def test_voting_rules() -> None:
    a = np.array([[0.6, 0.4], [0.2, 0.8]])
    b = np.array([[0.1, 0.9], [0.3, 0.7]])
    c = np.array([[0.7, 0.3], [0.4, 0.6]])
    np.testing.assert_allclose(verify.vote([a, b], [1, 1], "soft"), (a + b) / 2)
    np.testing.assert_allclose(verify.vote([a, b], [3, 1], "weighted"), 0.75 * a + 0.25 * b)
    # hard: vote shares, plus the device's tie-break of < 1e-3 from summed probabilities
    np.testing.assert_allclose(verify.vote([a, b, c], [1, 1, 1], "hard"),
                               [[2 / 3, 1 / 3], [0, 1]], atol=2e-3)


def test_file_scores_average_window_probabilities() -> None:
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8]])
    files = np.array([7, 7, 9, 9])
    y = np.array([0, 0, 1, 1])
    fp, fy = verify.by_file(probs, files, y)
    np.testing.assert_allclose(fp, [[0.65, 0.35], [0.325, 0.675]])
    assert fy.tolist() == [0, 1]
    cmp = verify.compare(probs, probs[:, ::-1])
    assert cmp["agreement"] == 0.0 and cmp["max_abs_dp"] == pytest.approx(0.8)


def test_gzip_size_is_deterministic_and_rewards_zeros() -> None:
    rng = np.random.default_rng(0)
    dense = rng.integers(-128, 127, 20000, dtype=np.int8)
    sparse = dense.copy()
    sparse[::2] = 0
    assert verify.gzip_size(dense.tobytes()) == verify.gzip_size(dense.tobytes())
    assert verify.gzip_size(sparse.tobytes()) < 0.75 * verify.gzip_size(dense.tobytes())


# ---- op support ------------------------------------------------------------------------------
def test_op_support_table_for_tflite_runtime_2_14() -> None:
    assert supported_by_tflite_runtime_2_14("FULLY_CONNECTED", 10)
    assert not supported_by_tflite_runtime_2_14("FULLY_CONNECTED", 12)
    assert supported_by_tflite_runtime_2_14("UNIDIRECTIONAL_SEQUENCE_LSTM", 4)
    assert not supported_by_tflite_runtime_2_14("BROADCAST_TO", 1)  # starts at v2
    assert not supported_by_tflite_runtime_2_14("NO_SUCH_OP", 1)


def test_read_ops_rejects_what_is_not_a_tflite_file() -> None:
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        read_ops(b"\x00" * 64)
    with pytest.raises(ModelError, match="corrupt"):
        read_ops(b"\x08\x00\x00\x00TFL3" + b"\xff" * 4)


def test_read_ops_on_a_handmade_flatbuffer() -> None:
    """A model with two operator codes, FULLY_CONNECTED v12 (used twice) and SOFTMAX v1."""
    pytest.importorskip("flatbuffers")
    s = pytest.importorskip("ai_edge_litert.schema_py_generated")
    import flatbuffers

    codes = []
    for code, version in ((s.BuiltinOperator.FULLY_CONNECTED, 12), (s.BuiltinOperator.SOFTMAX, 1)):
        oc = s.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), version
        codes.append(oc)
    ops = []
    for index in (0, 0, 1):
        op = s.OperatorT()
        op.opcodeIndex = index
        ops.append(op)
    sg = s.SubGraphT()
    sg.operators = ops
    m = s.ModelT()
    m.version, m.operatorCodes, m.subgraphs = 3, codes, [sg]
    b = flatbuffers.Builder(256)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    uses = read_ops(bytes(b.Output()))
    assert [(u.name, u.version, u.count) for u in uses] == [("FULLY_CONNECTED", 12, 2),
                                                           ("SOFTMAX", 1, 1)]
    assert unsupported(uses) == ["FULLY_CONNECTED v12 (supports up to v10)"]


# ---- packaging -------------------------------------------------------------------------------
def test_staged_output_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    out = tmp_path / "models"
    with pytest.raises(RuntimeError), package.staged(out, force=False) as stage:
        (stage / "half.tflite").write_bytes(b"x")
        raise RuntimeError("a member failed")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with package.staged(out, force=False) as stage:
        (stage / "manifest.json").write_text("{}")
    assert (out / "manifest.json").is_file() and len(list(tmp_path.iterdir())) == 1


def test_existing_output_needs_force_and_must_be_a_model_folder(tmp_path: Path) -> None:
    out = tmp_path / "models"
    out.mkdir()
    (out / "manifest.json").write_text("old")
    with pytest.raises(ConfigError, match="--force"):
        package.check_target(out, force=False)
    with package.staged(out, force=True) as stage:
        (stage / "manifest.json").write_text("new")
    assert (out / "manifest.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("...")
    with pytest.raises(ConfigError, match="not a model folder"):
        package.check_target(precious, force=True)


# ---- CLI -------------------------------------------------------------------------------------
def test_convert_help_does_not_import_tensorflow() -> None:
    code = ("import sys\nfrom edge.cli import main\nrc = main(['convert', '--help'])\n"
            "print('TF' if 'tensorflow' in sys.modules else 'noTF', rc)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--sparsity" in out.stdout and "--unroll / --fused" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "noTF 0"


def test_cli_error_is_one_line_naming_the_problem(tmp_path: Path) -> None:
    d = _set(tmp_path, "final")
    out = run_cli("convert", str(d), "--out", str(tmp_path / "models"))
    assert out.returncode == 4
    assert out.stderr.strip().splitlines() == [
        f"edge-ser: error: member set {d} lists no members ({d / 'set.json'})"]
    assert not (tmp_path / "models").exists()
