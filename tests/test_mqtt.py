"""MQTT publishing: URL and topic rules, one-line errors, and a real mosquitto broker that is
down, up, killed under a running `listen` and restarted."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_cli
from fixtures.services import (
    Collector,
    Mosquitto,
    free_port,
    retained,
    summary_counts,
    unavailable,
)
from fixtures.synth import silence, syllables
from fixtures.tiny import TINY

from edge.errors import ConfigError
from edge.mqtt import Topics, device_topic_name, discovery_config, parse_broker_url
from edge.wav import write_wav

M = ["--models", str(TINY)]


def story(seconds_each: float = 2.0, rounds: int = 1, seed: int = 0) -> np.ndarray:
    """Speech of changing classes with pauses: many decisions."""
    parts = []
    for r in range(rounds):
        for k in (4, 0, 7, 3):
            parts += [syllables(k, seconds_each, seed=seed + 10 * r + k), silence(0.6, seed=r)]
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("mqtt-clips")
    return {"short": write_wav(d / "short.wav", story(1.2), 16000),
            "long": write_wav(d / "long.wav", story(1.5, rounds=3), 16000)}


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


# ---- rules ---------------------------------------------------------------------------------
def test_broker_urls() -> None:
    b = parse_broker_url("mqtt://broker.lan")
    assert (b.host, b.port, b.tls, b.username, b.password) == ("broker.lan", 1883, False, None,
                                                               None)
    b = parse_broker_url("mqtts://ha%40home:p%3Ass@10.0.0.2:8884")
    assert (b.host, b.port, b.tls, b.username, b.password) == ("10.0.0.2", 8884, True, "ha@home",
                                                               "p:ss")
    assert b.address == "mqtts://10.0.0.2:8884"  # never the credentials
    assert parse_broker_url("mqtt://[::1]:1999/").address == "mqtt://[::1]:1999"


def test_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_SER_MQTT_PASSWORD", "from-env")
    assert parse_broker_url("mqtt://ha@broker").password == "from-env"
    assert parse_broker_url("mqtt://ha:given@broker").password == "given"


@pytest.mark.parametrize("url", ["broker.lan", "http://broker", "mqtt://", "mqtt://:1883",
                                 "mqtt://host:99999", "mqtt://host:port", "mqtt://host/topic",
                                 "mqtt://host?x=1", "mqtt://host#frag", "tcp://host:1883"])
def test_bad_broker_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="expected mqtt://"):
        parse_broker_url(url)


def test_a_bad_url_never_echoes_the_password() -> None:
    with pytest.raises(ConfigError) as e:
        parse_broker_url("mqtt://user:hunter2@host:notaport")
    assert "hunter2" not in str(e.value)


def test_device_names_become_one_topic_level() -> None:
    assert device_topic_name("Living Room.lan") == "Living-Room-lan"
    assert device_topic_name("pi/../#+") == "pi"
    assert device_topic_name("kitchen_pi-2") == "kitchen_pi-2"
    assert len(device_topic_name("x" * 300)) == 64
    assert device_topic_name(None)  # the host name, cleaned
    with pytest.raises(ConfigError):
        device_topic_name("#/+")


def test_topics_and_home_assistant_discovery() -> None:
    t = Topics("kitchen")
    assert (t.decision, t.state, t.availability) == (
        "edge-ser/kitchen/decision", "edge-ser/kitchen/state", "edge-ser/kitchen/availability")
    assert t.discovery == "homeassistant/sensor/edge-ser-kitchen/emotion/config"
    c = discovery_config(t)
    assert c["state_topic"] == c["json_attributes_topic"] == t.state
    assert c["value_template"] == "{{ value_json.label }}"
    assert "probabilities" in c["json_attributes_template"]
    assert c["availability_topic"] == t.availability
    assert c["unique_id"] == "edge-ser-kitchen-emotion"
    assert c["device"]["identifiers"] == ["edge-ser-kitchen"]


# ---- the command line ----------------------------------------------------------------------
@pytest.mark.parametrize(("args", "needle"), [
    (["--mqtt", "ftp://host"], "unknown scheme"),
    (["--mqtt", "mqtt://host:70000"], "--mqtt"),
    (["--mqtt", "mqtt://host", "--mqtt-ca", "ca.pem"], "--mqtt-ca needs an mqtts://"),
    (["--mqtt", "mqtts://host", "--mqtt-ca", "/nonexistent/ca.pem"], "no such file"),
    (["--mqtt", "mqtt://host", "--device-name", "//"], "--device-name"),
])
def test_bad_mqtt_options_are_one_line_and_exit_2(clips, args: list[str], needle: str) -> None:
    for cmd in ("listen", "serve"):
        r = run_cli(cmd, "--source", str(clips["short"]), "--fast", *M, *args)
        assert r.returncode == 2 and needle in one_line_error(r), r.stderr


def test_mqtt_without_paho_names_the_pip_command(clips) -> None:
    code = ("import sys; sys.modules['paho'] = None\n"
            "from edge.cli import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "listen", "--source", str(clips["short"]),
                        "--fast", "--mqtt", "mqtt://127.0.0.1", *M], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    line = one_line_error(r)
    assert r.returncode == 6 and "paho" in line and "pip install 'edge-ser[mqtt]'" in line


def test_a_broker_that_is_down_costs_messages_not_audio(clips) -> None:
    plain = run_cli("listen", "--source", str(clips["long"]), "--fast", "--json", *M)
    down = run_cli("listen", "--source", str(clips["long"]), "--fast", "--json", *M,
                   "--mqtt", f"mqtt://127.0.0.1:{free_port()}")
    assert plain.returncode == down.returncode == 0, down.stderr
    decisions = len(plain.stdout.splitlines())
    assert len(down.stdout.splitlines()) == decisions > 5
    assert summary_counts(down.stderr) == summary_counts(plain.stderr)
    assert f"0 decisions sent, {decisions} not delivered" in down.stderr


# ---- a real broker -------------------------------------------------------------------------
@pytest.fixture
def broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        unavailable("paho-mqtt (pip install paho-mqtt)")
    b = Mosquitto(tmp_path).start()
    yield b
    b.stop()


def test_listen_publishes_decisions_state_discovery_and_availability(broker, clips) -> None:
    sub = Collector(broker.port).start()
    try:
        r = run_cli("listen", "--source", str(clips["short"]), "--realtime", "--json", *M,
                    "--mqtt", broker.url, "--device-name", "Test Pi.1")
        assert r.returncode == 0, r.stderr
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        base = "edge-ser/Test-Pi-1"
        got = sub.wait_for(f"{base}/decision", count=len(lines))
        assert [json.loads(p) for p, _, _ in got] == lines  # the very objects of --json
        assert all(not retain for _, retain, _ in got)
        sub.wait_for(f"{base}/availability", b"offline")
        online = sub.on(f"{base}/availability")
        assert [p for p, _, _ in online][:1] == [b"online"] and online[-1][0] == b"offline"
        assert f"{len(lines)} decisions sent, 0 not delivered" in r.stderr
    finally:
        sub.stop()
    # what Home Assistant (a new subscriber) finds: retained state, discovery, availability
    assert json.loads(retained(broker.port, f"{base}/state")) == lines[-1]
    config = json.loads(retained(broker.port,
                                 "homeassistant/sensor/edge-ser-Test-Pi-1/emotion/config"))
    assert config["state_topic"] == f"{base}/state"
    assert config["value_template"] == "{{ value_json.label }}"
    assert retained(broker.port, f"{base}/availability") == b"offline"


def test_a_killed_process_is_announced_offline_by_its_last_will(broker, clips) -> None:
    sub = Collector(broker.port).start()
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "listen", "--source",
                             str(clips["long"]), "--realtime", "--json", *M, "--mqtt",
                             broker.url, "--device-name", "victim"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        sub.wait_for("edge-ser/victim/availability", b"online")
        sub.wait_for("edge-ser/victim/decision")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        sub.wait_for("edge-ser/victim/availability", b"offline", timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.stop()
    assert retained(broker.port, "edge-ser/victim/availability") == b"offline"


@pytest.mark.slow
def test_broker_stopped_and_restarted_mid_run(broker, clips) -> None:
    """Listening goes on through the outage (every window, no audio dropped), publishing
    resumes on the same port, and what could not be sent is counted."""
    fast = run_cli("listen", "--source", str(clips["long"]), "--fast", *M)
    windows, _ = summary_counts(fast.stderr)
    sub = Collector(broker.port).start()
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "listen", "--source",
                             str(clips["long"]), "--realtime", "--json", *M, "--mqtt",
                             broker.url, "--device-name", "outage"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sub.wait_for("edge-ser/outage/decision", count=2)
        broker.stop()
        down_at = time.monotonic()
        time.sleep(2.0)
        broker.start()
        up_at = time.monotonic()
        sub.wait_for("edge-ser/outage/availability", b"online", count=2, timeout=20)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.stop()
    assert proc.returncode == 0, err
    assert summary_counts(err) == (windows, 0)  # every window, no audio dropped
    after = [t for _, _, t in sub.on("edge-ser/outage/decision") if t > up_at]
    assert after, "publishing did not resume after the broker came back"
    m = re.search(r"(\d+) decisions? sent, (\d+) not delivered", err)
    assert m and int(m.group(1)) + int(m.group(2)) == len(out.splitlines())
    assert int(m.group(2)) >= 1 and down_at < up_at
