"""Hyperparameters: one file, seed at the top, typed --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import ConfigError
from train.config import DEFAULT_CONFIG, MemberSpec, TrainConfig, load_config


def test_default_file_loads_and_has_seed_first() -> None:
    cfg = load_config()
    first = next(line for line in DEFAULT_CONFIG.read_text().splitlines()
                 if line.strip() and not line.startswith("#"))
    assert first.startswith("seed")
    assert cfg.labels[0] == "neutral" and len(cfg.labels) == 8


def test_overrides_are_typed() -> None:
    cfg = load_config(None, ["lstm_units=64", "epochs=3", "members=cnn:mfcc:1,lstm:logmel:2",
                             "window_cmn=false", "learning_rate=1e-3", "monitor=val_accuracy"])
    assert cfg.lstm_units == [64] and cfg.epochs == 3 and cfg.window_cmn is False
    assert cfg.member_specs == [MemberSpec("cnn", "mfcc", 1), MemberSpec("lstm", "logmel", 2)]
    assert cfg.learning_rate == pytest.approx(1e-3)


@pytest.mark.parametrize("bad", ["nope=1", "epochs=abc", "monitor=loss", "members=rnn:mfcc:1",
                                 "pool_sizes=2", "split=whatever", "novalue"])
def test_bad_overrides(bad: str) -> None:
    with pytest.raises(ConfigError):
        load_config(None, [bad])


def test_bad_file(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("seed = [\n")
    with pytest.raises(ConfigError):
        load_config(p)
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing.toml")


def test_roundtrip() -> None:
    cfg = TrainConfig()
    assert TrainConfig(**cfg.to_dict()) == cfg


def test_frontend_table_sets_the_training_front_end(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('seed = 2\n[frontend]\nhop_length = 320\nn_mels = 64\n')
    cfg = load_config(toml)
    fe = cfg.frontend_config()
    assert (fe.hop_length, fe.n_mels, fe.n_fft) == (320, 64, 512)  # others keep the defaults
    cfg = load_config(toml, ["frontend.n_mfcc=20"])
    assert cfg.frontend == {"hop_length": 320, "n_mels": 64, "n_mfcc": 20}
    with pytest.raises(ConfigError, match="unknown front-end config key"):
        load_config(toml, ["frontend.hop=1"])
    with pytest.raises(ConfigError, match="n_mfcc"):
        load_config(toml, ["frontend.n_mfcc=80"])  # more MFCCs than mel bands


def test_validation_actors_cannot_both_stop_and_train() -> None:
    with pytest.raises(ConfigError, match="train_on_val_actors needs early_stopping = false"):
        load_config(None, ["early_stopping=true", "train_on_val_actors=true"])
    assert load_config(None, ["train_on_val_actors=true"]).early_stopping is False
