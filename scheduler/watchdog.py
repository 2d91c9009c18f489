"""systemd's notify protocol: READY=1 once serving, WATCHDOG=1 while live, STOPPING=1 at the end.

Under ``Type=notify`` with ``WatchdogSec=``, systemd restarts the service when the pings stop. They
are sent only while the liveness check (the one ``/livez`` answers) passes, so a scheduler that
died or a store that stopped answering gets the process restarted, while an unreachable outlet
(a fact about the world, not about this process) never does. Outside systemd
(no ``$NOTIFY_SOCKET``) every call does nothing.

The protocol is one datagram per message to a Unix socket; a library for it would be larger than
this module.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping

__all__ = ["Watchdog"]

logger = logging.getLogger("newswatch.service")


class Watchdog:
    def __init__(self, live: Callable[[], bool], environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.live = live
        self.address = environ.get("NOTIFY_SOCKET") or None
        if self.address and self.address.startswith("@"):  # an abstract socket
            self.address = "\0" + self.address[1:]
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        # ping at half the interval systemd waits, as sd_watchdog_enabled(3) advises
        self.interval = int(usec) / 2e6 if usec.isdigit() and mine else None
        self._stop = threading.Event()

    def notify(self, message: str) -> None:
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self.address)
        except OSError as exc:
            logger.warning("could not notify systemd (%s): %s", message, exc)

    def start(self) -> None:
        """READY=1, then pings from a thread while live."""
        self.notify("READY=1")
        if self.interval:
            threading.Thread(target=self._ping, name="watchdog", daemon=True).start()

    def _ping(self) -> None:
        assert self.interval is not None
        while not self._stop.wait(self.interval):
            if self.live():
                self.notify("WATCHDOG=1")
            else:
                logger.warning("not live: systemd's watchdog is not pinged")

    def stop(self) -> None:
        self._stop.set()
        self.notify("STOPPING=1")
