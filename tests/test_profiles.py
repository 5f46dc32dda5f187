"""Device profiles: every shipped one loads; typos and impossible windows are refused."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.profiles import available_profiles, check_window, load_profile, parse_profile

REPO = Path(__file__).resolve().parents[1]


def test_every_shipped_profile_loads() -> None:
    names = available_profiles()
    assert {"default", "pi3b", "pi4", "pi5", "zero2w"} <= set(names)
    for name in names:
        p = load_profile(name)
        assert p.name == name and p.description
        assert p.runtime.num_threads >= 1 and p.input.rate == 16000
    assert load_profile(None).name == "default"
    assert load_profile("default").input.device is None  # "" means the default input
    assert load_profile("pi4").input.on_device_lost == "reconnect"


def test_shipped_hops_fit_a_10ms_front_end(manifest) -> None:
    for name in available_profiles():
        hop = check_window(load_profile(name), manifest)
        assert round(hop * 100) == pytest.approx(hop * 100)


def test_shipped_profiles_fit_the_bundled_models() -> None:
    """`edge-ser listen --profile X` with no --models must start, whatever frame hop the
    bundled recipe uses."""
    from edge.manifest import MANIFEST_NAME, load_manifest
    from edge.models import DEFAULT_MODELS_DIR

    if not (DEFAULT_MODELS_DIR / MANIFEST_NAME).is_file():
        pytest.skip("no default models bundled")
    bundled = load_manifest(DEFAULT_MODELS_DIR)
    for name in available_profiles():
        assert check_window(load_profile(name), bundled) > 0


def test_unknown_keys_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="unknown key 'input_device'"):
        parse_profile('input_device = "USB"\n')
    with pytest.raises(ConfigError, match=r"\[input\]: unknown key 'devcie'"):
        parse_profile('[input]\ndevcie = "USB"\n')
    with pytest.raises(ConfigError, match=r"\[decisions\]: unknown key 'treshold'"):
        parse_profile("[decisions]\ntreshold = 0.4\n")


def test_bad_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="num_threads must be int"):
        parse_profile('[runtime]\nnum_threads = "two"\n')
    with pytest.raises(ConfigError, match="on_device_lost must be exit or reconnect"):
        parse_profile('[input]\non_device_lost = "retry"\n')
    with pytest.raises(ConfigError, match="threshold must be in"):
        parse_profile("[decisions]\nthreshold = 1.5\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_profile("[input\n")
    with pytest.raises(ConfigError, match="must be a table"):
        parse_profile("input = 3\n")
    with pytest.raises(ConfigError, match=r"no profile named 'pi9'.*pi4"):
        load_profile("pi9")
    with pytest.raises(ConfigError, match="does not exist"):
        load_profile("/nonexistent/profile.toml")


def test_window_must_match_the_models_and_hop_the_front_end(manifest) -> None:
    ok = parse_profile("[window]\nseconds = 1.0\nhop_seconds = 0.25\n", name="ok")
    assert check_window(ok, manifest) == 0.25
    wrong = parse_profile("[window]\nseconds = 3.0\n", name="wrong")
    with pytest.raises(ConfigError, match=r"3 s window but the models were trained on 1 s"):
        check_window(wrong, manifest)
    odd = parse_profile("[window]\nhop_seconds = 0.123\n", name="odd")
    with pytest.raises(ConfigError, match="not a multiple of the front-end hop"):
        check_window(odd, manifest)
    long = parse_profile("[window]\nhop_seconds = 2.0\n", name="long")
    with pytest.raises(ConfigError, match="longer than"):
        check_window(long, manifest)


def test_profile_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "kitchen.toml"
    f.write_text('[input]\ndevice = 2\nframes_per_buffer = 800\n[runtime]\nnum_threads = 2\n')
    p = load_profile(str(f))
    assert p.name == "kitchen" and p.input.device == 2 and p.runtime.num_threads == 2
    assert p.input.frames_per_buffer == 800 and p.decisions.threshold == 0.5


def test_service_unit_and_alsa_snippet_are_shipped() -> None:
    root = REPO / "firmware_config"
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(root / "edge-ser.service")
    service = unit["Service"]
    assert "listen --json --profile pi4" in service["ExecStart"]
    assert service["User"] == "edge-ser" and "audio" in service["SupplementaryGroups"]
    assert service["Restart"] == "on-failure" and service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict" and service["PrivateTmp"] == "yes"
    assert "PrivateDevices" not in service  # it would hide /dev/snd
    asound = (root / "usb-mic.asoundrc").read_text()
    assert "dsnoop" in asound and "16000" in asound and "pcm.!default" in asound


def test_the_speech_gate_is_not_a_profile_setting() -> None:
    """It is part of what the models were trained on: the manifest's, with one name."""
    for key in ("min_speech_ratio", "min_speech_fraction"):
        with pytest.raises(ConfigError, match=r"speech\.min_speech_fraction"):
            parse_profile(f"[decisions]\n{key} = 0.25\n")
    for name in available_profiles():
        assert "min_speech" not in load_profile(name).decisions.__dataclass_fields__


def test_the_default_profile_decides_like_the_built_in_defaults() -> None:
    """`classify` without --profile uses DecisionConfig() (no TOML parser on its path): that
    must be what `listen` gets from the default profile, or the two would disagree."""
    from edge.decisions import DecisionConfig

    assert load_profile("default").decisions == DecisionConfig()
