"""A private, throw-away ``redis-server`` for the test session.

The store, de-duplication and scheduling code talk to Redis; faking it would hide
real behaviour (expiry, atomicity, encoding), so tests use a real server.  To keep
the developer's own Redis untouched, a private instance is started on a free
loopback port with persistence disabled and its working directory in a temp dir.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from .serving import LoopbackService

__all__ = ["INSTALL_HINT", "RedisServer", "RedisServerError", "find_redis_server"]

INSTALL_HINT = (
    "redis-server not found: install Redis (Debian/Ubuntu: sudo apt install redis-server; "
    "macOS: brew install redis) or set NEWSWATCH_TEST_REDIS_URL=redis://host:port/db"
)


class RedisServerError(RuntimeError):
    """The private redis-server could not be started; the message includes its log."""


def find_redis_server() -> str | None:
    """Path of the ``redis-server`` executable on PATH, or None."""
    return shutil.which("redis-server")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RedisServer(LoopbackService):
    """Runs ``redis-server`` as a child process bound to 127.0.0.1 on a free port.

    Usage::

        with RedisServer() as server:
            client = redis.Redis.from_url(server.url)
    """

    def __init__(self, executable: str | None = None, startup_timeout: float = 10) -> None:
        super().__init__()
        found = executable or find_redis_server()
        if found is None:
            raise RedisServerError(INSTALL_HINT)
        self.executable = found
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None

    def _open(self, port: int) -> int:
        """Start on a free port and wait until PING answers; retries on a port race."""
        self._tmp = tempfile.TemporaryDirectory(prefix="newswatch-redis-")
        last_error: RedisServerError | None = None
        for _attempt in range(3):
            port = _free_port(self.host)
            try:
                self._launch(port)
                return port
            except RedisServerError as error:
                last_error = error
                self._kill()
        self._cleanup_tmp()
        assert last_error is not None
        raise last_error

    def _launch(self, port: int) -> None:
        assert self._tmp is not None
        workdir = Path(self._tmp.name)
        log_path = workdir / "redis.log"
        args = [
            self.executable,
            "--port", str(port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir),
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", str(log_path),
        ]  # fmt: skip
        # Startup errors (bad option, port taken) go to stderr before the logfile opens.
        stderr_path = workdir / f"redis-{port}.stderr"
        with stderr_path.open("wb") as stderr:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
        client = redis.Redis(host=self.host, port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + self.startup_timeout
        try:
            while True:
                if self._proc.poll() is not None:
                    raise RedisServerError(
                        f"redis-server exited with code {self._proc.returncode} on port {port}:\n"
                        f"{_tail(stderr_path)}\n{_tail(log_path)}"
                    )
                try:
                    if client.ping():
                        return
                except redis.exceptions.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RedisServerError(
                        f"redis-server on port {port} did not answer PING within "
                        f"{self.startup_timeout}s:\n{_tail(log_path)}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def _close(self) -> None:
        """Terminate the server and remove its temp dir."""
        self._kill()
        self._cleanup_tmp()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def _cleanup_tmp(self) -> None:
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.cleanup()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
