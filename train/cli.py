"""``edge-ser train``: the click command (no TensorFlow at import time, so --help always works).

Everything that can be wrong with the inputs (config, ``--frontend`` file, corpus, an ``--out``
that holds another run) is reported, as one line, before TensorFlow is imported: a typo costs
a second, not a TensorFlow start-up.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from edge.errors import ConfigError

TRAIN_REQUIREMENTS = "pip install -r requirements-train.txt"


def require_training_packages() -> None:
    """Check the training stack is installed (without importing it), or name the fix."""
    from edge.deps import check

    check(("tensorflow", "tf_keras", "librosa", "sklearn", "matplotlib"), "`edge-ser train`",
          TRAIN_REQUIREMENTS)


def _command_line() -> str:
    """The command as typed (for run.json and the results table)."""
    args = sys.argv[1:]
    if args[:1] == ["train"]:
        return "edge-ser " + shlex.join(args)
    return "edge-ser train (called from Python: " + shlex.join(sys.argv[:1]) + ")"


def read_frontend(path: Path):  # type: ignore[no-untyped-def]
    """A ``--frontend`` FrontendConfig JSON, or one ConfigError line naming the file."""
    from edge.frontend.config import FrontendConfig

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read --frontend {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--frontend {path} is not a JSON text file") from None
    try:
        return FrontendConfig.from_json(text)
    except ConfigError as exc:
        raise ConfigError(f"--frontend {path}: {exc}") from None


@click.command("train", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data", multiple=True, metavar="[FORMAT:]PATH",
              help="Corpus folder (or CSV of path,label[,speaker]), optionally prefixed by its "
                   "format (nemo:~/corpora/nemo); repeat for several corpora (default: the "
                   "config's `corpora`).")
@click.option("--format", "fmt", default="auto", show_default=True,
              help="Format of a --data without prefix: ravdess, tess, crema-d, savee, emodb, "
                   "nemo, ased, urdu, emotiontts, folders, csv or auto.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Run folder to write. Rerunning into it continues a stopped run: finished "
                   "folds are kept (same config and corpus only; --force starts again).")
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help="Hyperparameter TOML naming what differs from the recipe "
                   "(train/configs/default.toml).")
@click.option("--quick", is_flag=True,
              help="A small, fast run (train/configs/quick.toml: 2 small members, 8 epochs, no "
                   "comparison members) to check a corpus and the train → convert path.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a hyperparameter, e.g. --set lstm_units=64 (repeatable).")
@click.option("--frontend", "frontend_path", type=click.Path(path_type=Path),
              help="FrontendConfig JSON (default: the built-in front end with the config's "
                   "[frontend] table).")
@click.option("--cache", type=click.Path(path_type=Path), default=None,
              help="Feature cache folder (default: $EDGE_SER_CACHE or ~/.cache/edge-ser).")
@click.option("--no-cache", is_flag=True, help="Compute features without the disk cache.")
@click.option("--folds", "folds_file", type=click.Path(path_type=Path),
              help="A folds JSON (default: the committed one for the corpus, else computed; "
                   "fold counts shrink to what the corpus's speakers allow).")
@click.option("--only", "only_folds", multiple=True,
              help="Train only this fold (repeatable; 'final' for the final set).")
@click.option("--final/--no-final", default=None,
              help="Also train the 'final' set on all actors, the one `edge-ser convert` "
                   "deploys (default: yes, unless --only).")
@click.option("--force", is_flag=True, help="Replace the run already in --out.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi_worker"]),
              default="default", show_default=True,
              help="tf.distribute strategy (multi_worker reads TF_CONFIG; run the same command "
                   "on every worker).")
@click.option("--jobs", default=1, show_default=True,
              help="Processes for feature extraction and for fitting members side by side.")
@click.option("--search", "search_trials", default=0, type=int,
              help="Instead of a run: optuna search with this many trials, scored on "
                   "validation actors only.")
@click.option("--no-compare", is_flag=True, help="Skip the CNN/LSTM/SVM/RF comparison models.")
@click.option("--verbose", "-v", is_flag=True, help="Show TensorFlow's own log output.")
def train(data: tuple[str, ...], fmt: str, out: Path, config_path: Path | None, quick: bool,
          overrides: tuple[str, ...], frontend_path: Path | None, cache: Path | None,
          no_cache: bool, folds_file: Path | None, only_folds: tuple[str, ...],
          final: bool | None, force: bool, strategy: str, jobs: int, search_trials: int,
          no_compare: bool, verbose: bool) -> None:
    """Train members with speaker-independent K-fold evaluation and write a run folder."""

    from edge.errors import ConfigError
    from train.config import load_config
    from train.datasets import CorpusSource

    cfg = load_config(config_path, overrides, quick=quick)
    fe = read_frontend(frontend_path) if frontend_path else cfg.frontend_config()
    sources = [CorpusSource.parse(d, fmt) for d in (data or cfg.corpora)]
    if not sources:
        raise ConfigError("no corpus: give --data [FORMAT:]PATH (repeatable) or `corpora` in "
                          "the config")
    if no_cache:
        cache_dir = None
    else:
        from train.features import default_cache_dir

        cache_dir = cache or default_cache_dir()
    require_training_packages()
    from train.experiment import RunOptions, run

    opts = RunOptions(data=sources, out=out, fmt=fmt, frontend=fe, cache=cache_dir,
                      folds_file=folds_file, only_folds=only_folds,
                      final=not only_folds if final is None else final, force=force,
                      quiet=not verbose, strategy=strategy, jobs=jobs, skip_compare=no_compare,
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
    if "final" in result["sets"]:
        click.echo(f"next: edge-ser convert {shlex.quote(str(out))} --out MODELS_DIR")
