"""deploy/: what can be checked without Docker or systemd on this machine.

The compose file and Dockerfile are linted for what matters (non-root, persistence, health
checks, files that exist); the systemd unit's own command line is run as the unit would run it,
then reloaded and stopped with the unit's signals.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import yaml

from tests.e2e import newswatch_command, run_newswatch
from tests.test_service import free_port, http_get, wait_until

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ROOT = DEPLOY.parent


def test_compose_runs_newswatch_with_persistent_redis_and_health_checks() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"newswatch", "redis"}
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command
    assert services["redis"]["volumes"] and "healthcheck" in services["redis"]
    app = services["newswatch"]
    assert "/livez" in " ".join(app["healthcheck"]["test"])  # not /healthz: outlets down is no
    # reason to mark the container unhealthy
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert (ROOT / app["build"]["dockerfile"]).exists()
    mounted = app["volumes"][0].split(":")[0]
    assert (DEPLOY / mounted).exists()
    assert (DEPLOY / ".env.example").exists()


def test_compose_config_is_valid_with_its_environment(tmp_path: Path) -> None:
    os.environ["NEWSWATCH_STORE"] = "redis://redis:6379/0"
    os.environ["NEWSWATCH_TOKEN"] = "change-me"  # from .env: the page's token off loopback
    try:
        result = run_newswatch("check", "-c", str(DEPLOY / "newswatch.compose.yaml"), cwd=tmp_path)
    finally:
        del os.environ["NEWSWATCH_STORE"]
        del os.environ["NEWSWATCH_TOKEN"]
    assert result.code == 0, result.stderr
    assert "store: redis://redis:6379/0" in result.stdout


def test_dockerfile_is_slim_non_root_and_copies_what_exists() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
    [check] = re.findall(r"^HEALTHCHECK .*\n.*$", text, re.M)
    assert "/livez" in check


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "newswatch.service")
    return unit


def test_systemd_unit_is_hardened() -> None:
    service = _unit()["Service"]
    for key, value in {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "StateDirectory": "newswatch",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
    }.items():
        assert service.get(key) == value, key
    assert service["ExecReload"].endswith("-HUP $MAINPID")
    assert service["KillSignal"] == "SIGTERM"
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) >= 10


def test_systemd_command_line_runs_reloads_and_stops(tmp_path: Path) -> None:
    service = _unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == "/opt/newswatch/bin/newswatch"
    port = free_port()
    config = tmp_path / "etc" / "newswatch.yaml"
    config.parent.mkdir()
    config.write_text(
        "outlets:\n  local:\n    domains: [localhost]\n    scheme: http\n"
        f"    feeds: ['http://127.0.0.1:{free_port()}/rss.xml']\n    every: 1h\n"
        f"service:\n  listen: 127.0.0.1:{port}\n"
    )
    state = tmp_path / "state"  # what StateDirectory= gives the unit as its working directory
    state.mkdir()
    env_line = service["Environment"]
    name, _, _ = env_line.partition("=")
    # systemd's side of Type=notify and WatchdogSec=: a datagram socket, and the interval
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(10)
    env = {
        **os.environ,
        name: str(config),
        "no_proxy": "*",
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
        "WATCHDOG_USEC": "1000000",  # pings every 0.5 s
    }
    process = subprocess.Popen(
        [*newswatch_command(), *argv[1:]],
        cwd=state,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: http_get(f"http://127.0.0.1:{port}/livez")[0] == 200, 30, "live")
        messages = [notify.recv(1024).decode() for _ in range(3)]
        assert messages[0] == "READY=1" and messages[1:] == ["WATCHDOG=1", "WATCHDOG=1"]
        process.send_signal(signal.SIGHUP)  # ExecReload
        time.sleep(1)
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)  # KillSignal
        assert process.wait(timeout=int(service["TimeoutStopSec"])) == 0
        rest = []
        notify.settimeout(0.1)
        while True:
            try:
                rest.append(notify.recv(1024).decode())
            except TimeoutError:
                break
        assert rest[-1] == "STOPPING=1"
    finally:
        notify.close()
        if process.poll() is None:
            process.kill()
    output = process.stdout.read().decode() if process.stdout else ""
    assert '"message": "config reloaded' in output  # --log-format json from ExecStart
    assert (state / "newswatch-state" / "state.sqlite3").exists()
