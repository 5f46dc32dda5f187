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
                                 "pool_sizes=2", "split=whatever", "novalue",
                                 "window_fill=noise"])
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


def test_dataclass_defaults_are_the_recipe_and_default_toml_documents_every_field() -> None:
    """One source of defaults: TrainConfig() is what default.toml says (#14.12)."""
    import tomllib

    assert load_config() == TrainConfig()
    documented = tomllib.loads(DEFAULT_CONFIG.read_text())
    assert set(documented) == set(TrainConfig().to_dict())
    assert TrainConfig().to_dict() == load_config(DEFAULT_CONFIG).to_dict()


def test_a_config_file_names_only_what_it_changes(tmp_path: Path) -> None:
    p = tmp_path / "mine.toml"
    p.write_text("epochs = 3\n")
    cfg = load_config(p)
    assert cfg.epochs == 3 and cfg.replace(epochs=TrainConfig().epochs) == TrainConfig()
    quick = load_config(quick=True, overrides=["epochs=2"])
    assert quick.epochs == 2 and len(quick.members) < len(TrainConfig().members)


def test_sub_configs_are_copied_by_name() -> None:
    from dataclasses import dataclass

    from train.augment import AugmentConfig, SpecAugmentConfig
    from train.config import sub_config
    from train.preprocess import PreprocessConfig

    cfg = load_config(None, ["aug_copies=5", "aug_reverb_prob=0.5", "denoise=true",
                             "specaug_freq_width=7", "seed=9"])
    aug = sub_config(AugmentConfig, cfg, "aug_", seed=cfg.seed)
    assert (aug.copies, aug.reverb_prob, aug.seed) == (5, 0.5, 9)
    assert sub_config(PreprocessConfig, cfg, sr=8000) == PreprocessConfig(
        sr=8000, vad=cfg.vad, loudness=cfg.loudness, target_dbfs=cfg.target_dbfs,
        denoise=True, resampler=cfg.resampler)
    assert sub_config(SpecAugmentConfig, cfg, "specaug_").freq_width == 7

    @dataclass
    class Orphan:
        not_in_train_config: int = 0

    with pytest.raises(TypeError, match="not_in_train_config"):
        sub_config(Orphan, cfg)
