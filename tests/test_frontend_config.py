"""FrontendConfig: librosa's names, JSON round trip, refusal of nonsense."""

from __future__ import annotations

import json
import math

import pytest

from edge.errors import ConfigError
from edge.frontend import FrontendConfig, feature_dim, parse_kind


def test_json_round_trip_keeps_every_field() -> None:
    cfg = FrontendConfig(n_mels=64, n_mfcc=20, htk=True, lifter=22.0, fmax=7600.0)
    again = FrontendConfig.from_json(cfg.to_json())
    assert again == cfg
    assert math.isinf(again.chroma_norm)
    assert json.loads(cfg.to_json())["chroma_norm"] == "inf"


def test_json_uses_librosa_parameter_names() -> None:
    import inspect

    librosa = pytest.importorskip("librosa")
    params = set(inspect.signature(librosa.feature.mfcc).parameters)
    params |= set(inspect.signature(librosa.feature.melspectrogram).parameters)
    params |= set(inspect.signature(librosa.filters.mel).parameters)
    kwargs = FrontendConfig().librosa_kwargs("mfcc")
    assert set(kwargs) <= params
    assert set(kwargs) <= set(json.loads(FrontendConfig().to_json()))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sr": 0}, "sr must be positive"),
        ({"win_length": 1024}, "win_length"),
        ({"n_mfcc": 80}, "cannot exceed n_mels"),
        ({"fmax": 9000.0}, "above Nyquist"),
        ({"f0_fmin": 600.0}, "f0_fmin"),
        ({"pad_mode": "wrap"}, "pad_mode"),
        ({"delta_width": 4}, "delta_width"),
    ],
)
def test_invalid_configs_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FrontendConfig(**changes)


def test_unknown_keys_and_bad_json() -> None:
    with pytest.raises(ConfigError, match="unknown front-end config key"):
        FrontendConfig.from_dict({"n_mfcc": 13, "n_mfccs": 13})
    with pytest.raises(ConfigError, match="not valid JSON"):
        FrontendConfig.from_json("{")


def test_kinds_and_dims() -> None:
    cfg = FrontendConfig()
    assert feature_dim(cfg, "mfcc") == 40
    assert feature_dim(cfg, "mfcc_d") == 80
    assert feature_dim(cfg, "mfcc_dd+chroma+pitch+rms") == 120 + 12 + 1 + 1
    assert [p.base for p in parse_kind("logmel+zcr")] == ["logmel", "zcr"]
    for bad in ("", "mfcc+mfcc_d", "spectrogram", "mfcc_ddd"):
        with pytest.raises(ConfigError):
            parse_kind(bad)


def test_frame_count_matches_centered_framing() -> None:
    cfg = FrontendConfig()
    assert cfg.n_frames(16000) == 101
    assert cfg.n_frames(1) == 1
    assert FrontendConfig(center=False).n_frames(512 + 160) == 2
