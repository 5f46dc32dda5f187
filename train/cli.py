"""``edge-ser train``: the click command (no TensorFlow at import time, so --help always works)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from edge.errors import MissingDependencyError

TRAIN_REQUIREMENTS = "pip install -r requirements-train.txt"


def require_training_packages() -> None:
    """Import the training stack now, or fail with the one line that fixes it."""
    for module in ("tensorflow", "tf_keras", "librosa", "sklearn", "matplotlib"):
        try:
            __import__(module)
        except ImportError:
            raise MissingDependencyError(
                f"`edge-ser train` needs {module}, which is not installed: {TRAIN_REQUIREMENTS}"
            ) from None


def _command_line() -> str:
    """The command as typed (for run.json and the results table)."""
    args = sys.argv[1:]
    if args[:1] == ["train"]:
        return "edge-ser " + shlex.join(args)
    return "edge-ser train (called from Python: " + shlex.join(sys.argv[:1]) + ")"


@click.command("train", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data", multiple=True, metavar="[FORMAT:]PATH",
              help="Corpus folder (or CSV of path,label[,speaker]), optionally prefixed by its "
                   "format (nemo:~/corpora/nemo); repeat for several corpora (default: the "
                   "config's `corpora`).")
@click.option("--format", "fmt", default="auto", show_default=True,
              help="Format of a --data without prefix: ravdess, tess, crema-d, savee, emodb, "
                   "nemo, ased, urdu, emotiontts, folders, csv or auto.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run folder to write.")
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help="Hyperparameter TOML (default: train/configs/default.toml).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a hyperparameter, e.g. --set lstm_units=64 (repeatable).")
@click.option("--frontend", "frontend_path", type=click.Path(path_type=Path),
              help="FrontendConfig JSON (default: the built-in front end with the config's "
                   "[frontend] table).")
@click.option("--cache", type=click.Path(path_type=Path), default=None,
              help="Feature cache folder (default: $EDGE_SER_CACHE or ~/.cache/edge-ser).")
@click.option("--no-cache", is_flag=True, help="Compute features without the disk cache.")
@click.option("--folds", "folds_file", type=click.Path(path_type=Path),
              help="A folds JSON (default: the committed one for the corpus, else computed).")
@click.option("--only", "only_folds", multiple=True, help="Train only this fold (repeatable).")
@click.option("--final", is_flag=True, help="Also train a 'final' set on all actors.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi_worker"]),
              default="default", show_default=True,
              help="tf.distribute strategy (multi_worker reads TF_CONFIG).")
@click.option("--jobs", default=1, show_default=True,
              help="Processes for feature extraction and for fitting members side by side.")
@click.option("--search", "search_trials", default=0, type=int,
              help="Instead of a run: optuna search with this many trials, scored on "
                   "validation actors only.")
@click.option("--no-compare", is_flag=True, help="Skip the CNN/LSTM/SVM/RF comparison models.")
def train(data: tuple[str, ...], fmt: str, out: Path, config_path: Path | None,
          overrides: tuple[str, ...],
          frontend_path: Path | None, cache: Path | None, no_cache: bool, folds_file: Path | None,
          only_folds: tuple[str, ...], final: bool, strategy: str, jobs: int, search_trials: int,
          no_compare: bool) -> None:
    """Train members with speaker-independent K-fold evaluation and write a run folder."""
    import os

    from edge.errors import ConfigError
    from edge.frontend.config import FrontendConfig
    from train.config import load_config
    from train.datasets import CorpusSource

    cfg = load_config(config_path, overrides)
    sources = [CorpusSource.parse(d, fmt) for d in (data or cfg.corpora)]
    if not sources:
        raise ConfigError("no corpus: give --data [FORMAT:]PATH (repeatable) or `corpora` in "
                          "the config")
    fe = cfg.frontend_config()
    if frontend_path:
        fe = FrontendConfig.from_json(Path(frontend_path).read_text(encoding="utf-8"))
    if no_cache:
        cache_dir = None
    else:
        cache_dir = cache or Path(os.environ.get("EDGE_SER_CACHE",
                                                 Path.home() / ".cache" / "edge-ser"))
    require_training_packages()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from train.experiment import RunOptions, run

    opts = RunOptions(data=sources, out=out, fmt=fmt, frontend=fe, cache=cache_dir,
                      folds_file=folds_file, only_folds=only_folds, final=final,
                      strategy=strategy, jobs=jobs, skip_compare=no_compare,
                      command=_command_line())
    if search_trials:
        from train.search import search

        search(cfg, opts, search_trials)
        return
    result = run(cfg, opts)
    res = result.get("results", {})
    for key in ("svm", "rf", "cnn", "lstm", "cnn_lstm", "ensemble_hard", "ensemble_soft"):
        if key in res:
            click.echo(f"{key:16s} UAR {100 * res[key]['uar']['mean']:.1f} ± "
                       f"{100 * res[key]['uar']['std']:.1f}  WA {100 * res[key]['wa']['mean']:.1f}")
    click.echo(f"{result['split']}; run folder {out} ({result['wall_time_s']:.0f} s)")
