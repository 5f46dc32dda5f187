"""MQTT publishing: URL and topic rules, one-line errors, and a real mosquitto broker that is
down, up, killed under a running `listen` and restarted; over TLS (mqtts:// with a throwaway CA,
and with the wrong CA) and with passwords (right, from the environment, wrong)."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_cli
from fixtures.services import (
    CertificateAuthority,
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
from edge.mqtt import (
    MqttPublisher,
    Topics,
    device_topic_name,
    discovery_config,
    parse_broker_url,
)
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


# ---- TLS and passwords against a real broker ----------------------------------------------
@pytest.fixture
def brokers(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start mosquitto brokers with Mosquitto's options (tls=, users=); all stopped at the end."""
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        unavailable("paho-mqtt (pip install paho-mqtt)")
    started: list[Mosquitto] = []

    def start(**options: object) -> Mosquitto:
        folder = tmp_path / f"broker{len(started)}"
        folder.mkdir()
        b = Mosquitto(folder, **options)  # type: ignore[arg-type]
        started.append(b)
        return b.start()

    yield start
    for b in started:
        b.stop()


@pytest.fixture(scope="module")
def without_mqtt(clips) -> subprocess.CompletedProcess[str]:
    """`listen --fast --json` of the short clip with no broker: what every run must still do."""
    r = run_cli("listen", "--source", str(clips["short"]), "--fast", "--json", *M)
    assert r.returncode == 0 and len(r.stdout.splitlines()) > 3, r.stderr
    return r


def listen_fast(clips, url: str, device: str, *extra: str,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("listen", "--source", str(clips["short"]), "--fast", "--json", *M,
                   "--mqtt", url, "--device-name", device, *extra, env=env)


def delivered(broker: Mosquitto, sub: Collector, r: subprocess.CompletedProcess[str],
              device: str) -> list[tuple[str, bool]]:
    """Check what a subscriber and Home Assistant (a new subscriber) get from one run; return
    the (topic, retained) sequence the subscriber saw, for comparing brokers."""
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    t = Topics(device)
    got = sub.wait_for(t.decision, count=len(lines))
    assert [json.loads(p) for p, _, _ in got] == lines  # the very objects of --json
    assert all(not retain for _, retain, _ in got)
    sub.wait_for(t.availability, b"offline")
    assert [p for p, _, _ in sub.on(t.availability)] == [b"online", b"offline"]
    assert json.loads(sub.wait_for(t.discovery)[0][0]) == discovery_config(t)
    assert f"MQTT {broker.url}: {len(lines)} decisions sent, 0 not delivered" in r.stderr
    assert json.loads(retained(broker.port, t.state, **broker.client())) == lines[-1]
    assert json.loads(retained(broker.port, t.discovery, **broker.client())) == \
        discovery_config(t)
    assert retained(broker.port, t.availability, **broker.client()) == b"offline"
    with sub.lock:
        return [(topic, retain) for topic, _, retain, _ in sub.messages
                if topic.startswith(t.base) or topic == t.discovery]


def nothing_delivered(sub: Collector, r: subprocess.CompletedProcess[str], device: str,
                      without_mqtt: subprocess.CompletedProcess[str]) -> None:
    """Listening went on as with no broker (exit 0, every window and decision), no message
    reached the broker, and the summary counts every decision as not delivered."""
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    decisions = len(without_mqtt.stdout.splitlines())
    assert len(r.stdout.splitlines()) == decisions
    assert summary_counts(r.stderr) == summary_counts(without_mqtt.stderr)
    assert f"0 decisions sent, {decisions} not delivered" in r.stderr
    time.sleep(0.2)  # anything sent before the exit has reached the subscriber by now
    t = Topics(device)
    with sub.lock:
        assert [m for m in sub.messages if m[0].startswith(t.base) or m[0] == t.discovery] == []


def test_mqtts_delivers_as_plain_mqtt_does(brokers, clips, tmp_path: Path) -> None:
    """The same run over a plain and a TLS listener (server certificate for 127.0.0.1 from a
    throwaway CA, given with --mqtt-ca): the same messages, retained state and discovery."""
    ca = CertificateAuthority.create(tmp_path / "ca")
    seen = []
    for broker in (brokers(), brokers(tls=ca)):
        sub = Collector(broker.port, **broker.client()).start()
        try:
            extra = ("--mqtt-ca", str(ca.pem)) if broker.tls else ()
            assert broker.url.startswith("mqtts://" if broker.tls else "mqtt://")
            r = listen_fast(clips, broker.url, "tls-pi", *extra)
            seen.append(delivered(broker, sub, r, "tls-pi"))
        finally:
            sub.stop()
    assert seen[0] == seen[1]


def test_mqtts_with_the_wrong_ca_delivers_nothing_and_listening_goes_on(
        brokers, clips, tmp_path: Path, without_mqtt) -> None:
    broker = brokers(tls=CertificateAuthority.create(tmp_path / "ca"))
    stranger = CertificateAuthority.create(tmp_path / "other", name="other-ca")
    sub = Collector(broker.port, **broker.client()).start()  # trusts the right CA
    try:
        r = listen_fast(clips, broker.url, "wrong-ca", "--mqtt-ca", str(stranger.pem))
        nothing_delivered(sub, r, "wrong-ca", without_mqtt)
    finally:
        sub.stop()


USERS = {"observer": "look-only-7", "pi": "s3cret-Pa55"}


def test_a_password_in_the_url_or_the_environment_delivers(brokers, clips) -> None:
    broker = brokers(users=USERS)
    plain = broker.url.removeprefix("mqtt://")
    password = USERS["pi"]
    for device, url, env in [
            ("auth-url", f"mqtt://pi:{password}@{plain}", None),
            ("auth-env", f"mqtt://pi@{plain}", {"EDGE_SER_MQTT_PASSWORD": password})]:
        sub = Collector(broker.port, **broker.client("observer")).start()
        try:
            r = listen_fast(clips, url, device, env=env)
            delivered(broker, sub, r, device)
        finally:
            sub.stop()
        assert password not in r.stdout + r.stderr


@pytest.mark.parametrize(("user", "env_password"), [
    ("pi:wrong-Pa55@", None),  # a wrong password in the URL
    pytest.param("pi@", "wrong-Pa55", marks=pytest.mark.slow),  # ... from the environment
    pytest.param("", None, marks=pytest.mark.slow),  # none: anonymous clients are refused
])
def test_a_refused_login_delivers_nothing_and_never_shows_the_password(
        brokers, clips, without_mqtt, user: str, env_password: str | None) -> None:
    broker = brokers(users=USERS)
    url = f"mqtt://{user}{broker.url.removeprefix('mqtt://')}"
    env = {"EDGE_SER_MQTT_PASSWORD": env_password} if env_password else None
    sub = Collector(broker.port, **broker.client("observer")).start()
    try:
        r = listen_fast(clips, url, "refused", env=env)
        nothing_delivered(sub, r, "refused", without_mqtt)
    finally:
        sub.stop()
    out = r.stdout + r.stderr
    assert "wrong-Pa55" not in out and USERS["pi"] not in out
    assert f"MQTT {broker.url}:" in r.stderr  # the broker's address, never the credentials


def test_decisions_made_before_a_slow_first_connection_are_delivered(brokers) -> None:
    """Regression: the publisher dropped every decision made before the broker's CONNACK, so a
    short file heard with --fast over TLS delivered nothing. A proxy that holds the connection
    for 0.8 s makes the first connection slow."""
    broker = brokers()
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen()

    def relay(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = proxy.accept()
                time.sleep(0.8)
                upstream = socket.create_connection(("127.0.0.1", broker.port))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=relay, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    sub = Collector(broker.port).start()
    try:
        url = f"mqtt://127.0.0.1:{proxy.getsockname()[1]}"
        publisher = MqttPublisher(parse_broker_url(url), "slow-link")
        publisher.start()
        for k in range(5):
            publisher.publish({"t": k, "label": "calm"})
        stats = publisher.close(timeout=5.0)
        assert (stats.sent, stats.undelivered) == (5, 0)
        got = sub.wait_for("edge-ser/slow-link/decision", count=5)
        assert [json.loads(p)["t"] for p, _, _ in got] == [0, 1, 2, 3, 4]
    finally:
        sub.stop()
        proxy.close()
