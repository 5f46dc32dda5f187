"""``edge-ser convert``: a trained member set → verified TFLite members + manifest in MODELS_DIR.

Order matters: everything that can be checked without TensorFlow (folders, set.json, the
output folder) is checked first; members are converted one by one into a staging folder,
verified through the device's interpreter, described by the manifest, and only then is the
staging folder renamed to MODELS_DIR. Any failure leaves MODELS_DIR untouched.
"""

from __future__ import annotations

import datetime as _dt
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convert import package, verify
from convert.prune import PruneOptions, PruneResult, prune
from convert.quantize import (
    QuantizeOptions,
    check_windows,
    fixed_batch,
    input_frames_dim,
    representative_sample,
    to_tflite,
)
from convert.runs import (
    MemberSet,
    load_set,
    normalize,
    preprocessing_mismatches,
    resolve_set_dir,
)
from convert.tflite_ops import OpUse, read_ops
from edge import __version__
from edge.errors import ConfigError, EdgeSerError, ModelError
from edge.frontend.kinds import feature_dim
from edge.frontend.vad import VadConfig
from edge.manifest import (
    CalibrationSpec,
    EnrolmentSpec,
    Manifest,
    Member,
    PreprocessingSpec,
    SpeechSpec,
    TrainingCorpus,
    TrainingSpec,
    feature_spec,
    load_manifest,
    make_member,
    write_manifest,
)
from train.runs import MemberRecord

REPORT_MD = "conversion-report.md"
REPORT_JSON = "conversion-report.json"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConvertOptions:
    source: Path  # a run folder or a member-set folder
    out: Path  # MODELS_DIR
    set_name: str | None = None
    quant: QuantizeOptions = field(default_factory=QuantizeOptions)
    prune: PruneOptions = field(default_factory=PruneOptions)
    verify_set: str | None = None  # a fold whose held-out actors estimate the conversion loss
    verify_windows: int = 1000  # training windows scored when the set has no held-out actors
    force: bool = False
    strict: bool = False  # fail (and write nothing) when a target is missed
    temperature: float | None = None  # calibration; None: the set's own (set.json)
    #: an enrolled speaker's statistics: "auto" (used if the members learnt speaker-normalised
    #: windows), "global" (never), "speaker" (always)
    enrol_features: str = "auto"
    enrol_prior: float = 0.0  # > 0: an enrolled speaker's prior divides the vote, this strength


@dataclass
class ConvertResult:
    out: Path
    manifest: Manifest
    report: dict[str, Any]


@dataclass
class _Converted:
    src: MemberRecord
    path: Path
    entry: Member
    keras: Any
    pruning: PruneResult | None
    ops: list[OpUse]


def _reason(exc: BaseException) -> str:
    """One line out of a (often very long) TensorFlow error."""
    text = str(exc).strip() or type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln.lower()]
    line = (errors or lines)[0]
    return line if len(line) <= 300 else line[:297] + "..."


def _load_keras(path: Path, src: MemberRecord) -> Any:
    from convert.tfenv import import_tf

    _, keras = import_tf()
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # h5py, ValueError, unknown layers...: all mean "not loadable"
        raise ModelError(
            f"member {src.name!r}: cannot load {path.name}: {_reason(exc)}") from None


def _train_windows(ms: MemberSet, kind: str) -> tuple[np.ndarray, np.ndarray]:
    w = ms.windows("train", kind)
    mean, std = ms.info.normalization[kind]
    if w.X.shape[2] != len(mean):
        raise ConfigError(f"set {ms.name}: data/train-{kind}.npz has {w.X.shape[2]} values per "
                          f"frame but normalization[{kind!r}] has {len(mean)}")
    _check_labels(w.y, ms, f"data/train-{kind}.npz")
    return normalize(w.X, mean, std), w.y


def _check_labels(y: np.ndarray, ms: MemberSet, where: str) -> None:
    if len(y) and (y.min() < 0 or y.max() >= len(ms.info.labels)):
        raise ConfigError(f"set {ms.name}: {where} has labels outside 0..{len(ms.info.labels) - 1}")


def _check_member(ms: MemberSet, src: MemberRecord, model: Any) -> tuple[int, int]:
    frames, dim = input_frames_dim(model, src.name)
    want_dim = feature_dim(ms.info.frontend, src.feature)
    if (frames, dim) != (ms.info.window.frames, want_dim):
        raise ModelError(f"member {src.name!r}: input is [{frames}, {dim}] but the set's window "
                         f"and front end give [{ms.info.window.frames}, {want_dim}] "
                         f"{src.feature!r} values")
    if len(ms.info.normalization[src.feature][0]) != want_dim:
        raise ConfigError(f"member {src.name!r}: normalization[{src.feature!r}] has "
                          f"{len(ms.info.normalization[src.feature][0])} values, the front end "
                          f"gives {want_dim}")
    out = model.output_shape
    if isinstance(out, list) or out[-1] != len(ms.info.labels):
        raise ModelError(
            f"member {src.name!r}: output {out} does not match {len(ms.info.labels)} labels")
    return frames, dim


def _convert_member(ms: MemberSet, src: MemberRecord, train: tuple[np.ndarray, np.ndarray],
                    stage: Path, opts: ConvertOptions, say: Progress) -> _Converted:
    from edge.interpreter import MemberModel

    model = _load_keras(ms.member_path(src), src)
    frames, dim = _check_member(ms, src, model)
    X, y = train
    check_windows(X, frames, dim, src.name, "training")
    pruning = None
    to_convert = model
    if opts.prune.enabled:
        say(f"    pruning to {100 * opts.prune.sparsity:.0f} % "
            f"({opts.prune.epochs} epochs on ≤ {min(len(X), opts.prune.max_windows)} windows)")
        try:
            pruning = prune(model, X, y, opts.prune)
        except EdgeSerError:
            raise
        except Exception as exc:
            raise ModelError(f"member {src.name!r} cannot be pruned: {_reason(exc)}") from None
        to_convert = pruning.model
        if not pruning.steps:
            say(f"    {src.name}: nothing to prune (its layers were fitted in closed form)")
    rep = representative_sample(X, opts.quant.representative, opts.quant.seed)
    check_windows(rep, frames, dim, src.name, "representative")
    lstm = "unrolled" if opts.quant.unroll else "fused"
    say(f"    converting to {opts.quant.mode} ({lstm} LSTM, {len(rep)} representative windows)")
    try:
        data = to_tflite(fixed_batch(to_convert, unroll=opts.quant.unroll), rep, opts.quant)
    except EdgeSerError:
        raise
    except Exception as exc:
        raise ModelError(f"member {src.name!r} does not convert to {opts.quant.mode}: "
                         f"{_reason(exc)}") from None
    path = stage / f"{src.name}.tflite"
    path.write_bytes(data)
    ops = read_ops(data)
    runner = MemberModel(path, num_threads=1)  # the device's loader: fails here if unusable
    entry = make_member(src.name, path, src.feature, runner.input_spec, runner.output_spec,
                        src.weight)
    return _Converted(src, path, entry, model, pruning, ops)


def _eval_data(ms: MemberSet, opts: ConvertOptions) -> tuple[dict[str, np.ndarray], np.ndarray,
                                                               np.ndarray, dict[str, Any]]:
    """Normalised windows per kind (aligned across kinds), labels, file ids, and what they are."""
    split = "test" if ms.has_test else "train"
    loaded = {k: ms.windows(split, k) for k in ms.kinds}
    first = next(iter(loaded.values()))
    for k, w in loaded.items():
        if len(w.y) != len(first.y) or not (np.array_equal(w.y, first.y)
                                             and np.array_equal(w.file, first.file)):
            raise ConfigError(f"set {ms.name}: data/{split}-{k}.npz does not hold the same windows "
                              "as the other kinds (labels or file ids differ); cannot score the "
                              "ensemble")
    _check_labels(first.y, ms, f"data/{split}-*.npz")
    idx = np.arange(len(first.y))
    data: dict[str, Any] = {"set": ms.name, "split": split}
    if split == "train":
        rng = np.random.default_rng(opts.quant.seed + 1)
        idx = np.sort(rng.choice(len(idx), size=min(opts.verify_windows, len(idx)), replace=False))
        data["warning"] = (
            f"Set {ms.name!r} has no held-out actors, so float and TFLite are compared on a sample "
            "of its own training windows: agreement and |Δp| measure the conversion, but the "
            "accuracies are optimistic. Add --verify-set fold-K for held-out figures.")
        data["description"] = (f"{len(idx)} training windows of set {ms.name} (no held-out actors: "
                               "accuracy is optimistic)")
    else:
        data["actors"] = list(ms.info.test_actors)
        actors = ", ".join(map(str, ms.info.test_actors))
        data["description"] = (f"held-out test actors {actors} of set {ms.name}: {len(idx)} "
                               f"windows, {len(np.unique(first.file))} files")
    data["windows"] = len(idx)
    X = {k: normalize(w.X[idx], *ms.info.normalization[k]) for k, w in loaded.items()}
    return X, first.y[idx], first.file[idx], data


def _verify(ms: MemberSet, done: list[_Converted], opts: ConvertOptions,
            say: Progress) -> dict[str, Any]:
    from edge.interpreter import MemberModel

    X, y, files, data = _eval_data(ms, opts)
    say(f"verifying on {data['description']}")
    outputs = []
    for c in done:
        x = X[c.src.feature]
        check_windows(x, c.entry.input.shape[1], c.entry.input.shape[2], c.src.name, "evaluation")
        runner = MemberModel(c.path, c.entry, num_threads=1)
        data.setdefault("interpreter", runner.backend)
        tfl = np.stack([runner.predict(w) for w in x])
        p = c.pruning
        outputs.append(verify.MemberOutputs(
            name=c.src.name, feature=c.src.feature, weight=c.src.weight,
            float_probs=c.keras.predict(x, batch_size=256, verbose=0),
            tflite_probs=tfl,
            pruned_probs=p.model.predict(x, batch_size=256, verbose=0) if p else None,
            sparsity=p.overall if p else None,
            layer_sparsity=p.layers if p else None,
            file=c.path, ops=c.ops))
    return verify.verify(outputs, y, files, ms.info.labels, ms.info.voting, data)


def _convert_set(ms: MemberSet, stage: Path, opts: ConvertOptions,
                 say: Progress) -> tuple[list[_Converted], dict[str, Any]]:
    train: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    done = []
    for i, src in enumerate(ms.members, 1):
        say(f"[{i}/{len(ms.members)}] {src.name} ({src.feature})")
        if src.feature not in train:
            train[src.feature] = _train_windows(ms, src.feature)
        c = _convert_member(ms, src, train[src.feature], stage, opts, say)
        say(f"    {c.path.name}: {c.path.stat().st_size / 1024:.1f} KiB, "
            f"ops {', '.join(sorted({u.name for u in c.ops}))}")
        done.append(c)
    train.clear()
    return done, _verify(ms, done, opts, say)


def _header(ms: MemberSet, opts: ConvertOptions) -> dict[str, Any]:
    q, p = opts.quant, opts.prune
    return {
        "source": str(ms.dir.absolute()),
        "set": ms.name,
        "mode": q.mode,
        "lstm": "unrolled" if q.unroll else "fused (state reset before every window)",
        "pruning": (f"{100 * p.sparsity:.0f} % target, polynomial schedule, {p.epochs} epochs"
                    if p.enabled else "none"),
        "edge-ser": __version__,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _metadata(ms: MemberSet, opts: ConvertOptions, done: list[_Converted],
              report: dict[str, Any]) -> dict[str, Any]:
    h = _header(ms, opts)
    meta: dict[str, Any] = {
        "converted_by": f"edge-ser {__version__}",
        "converted_at": h["date"],
        "source": {"run_dir": str(ms.dir.parent.absolute()), "set": ms.name,
                   "train_actors": list(ms.info.train_actors),
                   "test_actors": list(ms.info.test_actors)},
        "normalization": f"mean/std fitted on the training actors of set {ms.name}",
        "conversion": {"mode": opts.quant.mode, "unroll": opts.quant.unroll,
                       "lstm_state": "none (unrolled)" if opts.quant.unroll
                       else "fused LSTM keeps state: reset before every window",
                       "representative_windows": opts.quant.representative,
                       "seed": opts.quant.seed},
        "pruning": None,
        "verification": verify.summary(report),
        "report": REPORT_MD,
        # what training did besides the front end (VAD, gate's speech share, loudness,
        # denoising, resampler) and where the device differs
        "training": {"preprocessing": dict(ms.info.preprocessing),
                     "mismatches": preprocessing_mismatches(ms.info.preprocessing)},
    }
    if opts.prune.enabled:
        meta["pruning"] = {"target_sparsity": opts.prune.sparsity, "epochs": opts.prune.epochs,
                           "sparsity": {c.src.name: round(c.pruning.overall, 4)
                                        for c in done if c.pruning}}
    if "proxy" in report:
        meta["verification"]["proxy"] = verify.summary(report["proxy"])
    return meta


def _proxy(opts: ConvertOptions, say: Progress) -> dict[str, Any]:
    """Convert another set's members (not packaged) and verify them on its held-out actors."""
    run_dir = Path(opts.source)
    if not (run_dir / "run.json").is_file():
        run_dir = run_dir.parent
    ms = load_set(resolve_set_dir(run_dir, opts.verify_set))
    if not ms.has_test:
        raise ConfigError(f"--verify-set {opts.verify_set}: that set has no held-out test windows")
    say(f"--verify-set {ms.name}: converting its members the same way to measure the loss on "
        "held-out actors")
    with tempfile.TemporaryDirectory(prefix="edge-ser-proxy-") as tmp:
        _, report = _convert_set(ms, Path(tmp), opts, say)
    return report


def _strict_failures(report: dict[str, Any]) -> list[str]:
    t, e = report["targets"], report["ensemble"]
    out = []
    if not t["uar_ok"]:
        out.append(f"UAR drop {e['uar_drop_points']:.2f} points > {t['uar_drop_max_points']}")
    if not t["size_ok"]:
        out.append(f"size {e['bytes']} bytes > {t['size_max_bytes']}")
    if not t["tflite_runtime_2_14_ok"]:
        out.append("ops unsupported by tflite-runtime 2.14")
    return out


def manifest_sections(ms: MemberSet, opts: ConvertOptions) -> dict[str, Any]:
    """What the device must reproduce of training, from the run folder: the speech gate and
    VAD (training's gate; a file without speech keeps its best window, as training did), the
    preprocessing, the speakers the members heard (so `evaluate` can warn), calibration and
    how an enrolled speaker's statistics apply."""
    pre = dict(ms.run.get("preprocessing") or ms.info.preprocessing or {})
    gate = float(pre.get("min_speech_fraction", VadConfig().min_speech_fraction))
    speech = SpeechSpec(VadConfig(min_speech_fraction=gate), no_speech="best_window")
    preprocessing = PreprocessingSpec(
        loudness=str(pre.get("loudness", "none")), target_dbfs=pre.get("target_dbfs"),
        denoise=bool(pre.get("denoise", False)), resampler=str(pre.get("resampler", "edge")))
    heard: dict[str, list[str]] = {}
    single = str((ms.run.get("corpus") or {}).get("format") or "unknown")
    for spk in (*ms.info.train_actors, *ms.info.val_actors):
        corpus, _, speaker = str(spk).rpartition("/")
        heard.setdefault(corpus or single, []).append(speaker)
    training = TrainingSpec(tuple(TrainingCorpus(c, tuple(s)) for c, s in heard.items()))
    cal = ms.info.calibration or {}
    if opts.temperature is not None:
        calibration = CalibrationSpec(float(opts.temperature), "given to convert (--temperature)")
    elif cal.get("temperature", 1.0) != 1.0:
        calibration = CalibrationSpec(float(cal["temperature"]), str(cal.get("fitted_on", "")))
    else:
        calibration = None
    # members that learned speaker-normalised windows take an enrolled speaker's statistics
    # (unless told otherwise, by measurement); without a profile they get the global ones, as
    # half their training windows had
    features = opts.enrol_features
    if features == "auto":
        features = "speaker" if ms.info.speaker_norm else "global"
    enrolment = None
    if features != "global" or opts.enrol_prior > 0:
        enrolment = EnrolmentSpec(features=features, fallback="global",
                                  prior="divide" if opts.enrol_prior > 0 else "none",
                                  prior_strength=opts.enrol_prior or 1.0)
    return {"speech": speech, "preprocessing": preprocessing, "training": training,
            "calibration": calibration, "enrolment": enrolment}


def convert(opts: ConvertOptions, say: Progress = print) -> ConvertResult:
    """Convert, verify and package one member set (see the module docstring)."""
    set_dir = resolve_set_dir(opts.source, opts.set_name)
    ms = load_set(set_dir)
    out = Path(opts.out).absolute()
    package.check_target(out, opts.force)
    if opts.verify_set and opts.verify_set == ms.name:
        raise ConfigError(f"--verify-set {ms.name} is the set being converted")
    say(f"set {ms.name} of {ms.dir.parent}: {len(ms.members)} members, mode {opts.quant.mode}")
    mismatches = preprocessing_mismatches(ms.info.preprocessing)
    if mismatches and opts.strict:
        raise ConfigError(f"set {ms.name}: {'; '.join(mismatches)} (--strict); nothing was written")
    for line in mismatches:
        say(f"warning: {line}: expect lower accuracy on the device")

    with package.staged(out, opts.force) as stage:
        done, report = _convert_set(ms, stage, opts, say)
        if opts.verify_set:
            report["proxy"] = _proxy(opts, say)
        if opts.strict:
            problems = _strict_failures(report) + (
                _strict_failures(report["proxy"]) if "proxy" in report else [])
            if problems:
                raise ModelError("the converted ensemble misses its targets (--strict): "
                                 f"{'; '.join(problems)}; nothing was written")
        kinds = dict.fromkeys(c.src.feature for c in done)
        manifest = Manifest(
            labels=ms.info.labels, frontend=ms.info.frontend, window=ms.info.window,
            features={k: feature_spec(k, *ms.info.normalization[k]) for k in kinds},
            members=tuple(c.entry for c in done), voting=ms.info.voting,
            metadata=_metadata(ms, opts, done, report), **manifest_sections(ms, opts))
        write_manifest(manifest, stage)
        header = _header(ms, opts)
        (stage / REPORT_JSON).write_text(json.dumps({"header": header, **report}, indent=1) + "\n",
                                         encoding="utf-8")
        md = verify.markdown(report, header)
        if "proxy" in report:
            md += "\n# Held-out proxy (--verify-set)\n\n" + verify.markdown(report["proxy"], {
                "set": report["proxy"]["data"]["set"], "mode": opts.quant.mode})
        (stage / REPORT_MD).write_text(md, encoding="utf-8")
        load_manifest(stage)  # validates and checks every checksum, as the device will
    return ConvertResult(out, load_manifest(out), report)
