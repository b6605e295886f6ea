"""systemd service notifications (sd_notify) over the plain datagram protocol, no compiled bindings.

systemd passes `$NOTIFY_SOCKET` (a path, or an abstract socket name starting with '@') to a `Type=notify`
service; the service sends newline-separated `KEY=VALUE` datagrams to it: `READY=1` when it is up,
`WATCHDOG=1` at least every `$WATCHDOG_USEC` microseconds (else systemd kills and restarts it),
`STATUS=...` for `systemctl status`, `STOPPING=1`, `RELOADING=1` (+ `MONOTONIC_USEC=`). Without
`$NOTIFY_SOCKET` (a terminal, a test) every call is a no-op. Sending never raises and never blocks.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

logger = logging.getLogger(__name__)

NOTIFY_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def watchdog_interval_s(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Half of `$WATCHDOG_USEC` in seconds (how often to ping), or None when no watchdog is asked for us."""
    env = os.environ if environ is None else environ
    raw = env.get("WATCHDOG_USEC", "")
    if not raw:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner.isdigit() and int(owner) != (os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(raw)
    except ValueError:
        logger.warning("WATCHDOG_USEC=%r is not an integer: no watchdog pings", raw)
        return None
    if usec <= 0:
        return None
    return usec / 1e6 / 2.0


class Notifier:
    """Sends sd_notify messages to one socket address; inert when the address is empty."""

    def __init__(self, address: str | None = None, watchdog_s: float | None = None) -> None:
        self.address = address or ""
        self.watchdog_s = watchdog_s
        """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), None for no watchdog."""
        self._socket: socket.socket | None = None
        self._warned = False
        self.sent: list[str] = []
        """Messages sent successfully (the last few; for logs and tests)."""
        if self.address:
            try:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.setblocking(False)
            except OSError as exc:
                logger.warning("sd_notify: cannot create a socket (%s): notifications disabled", exc)
                self._socket = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, unset: bool = False) -> Notifier:
        """A notifier for `$NOTIFY_SOCKET` / `$WATCHDOG_USEC`; `unset=True` removes them from os.environ so
        programs we start (command sinks) do not inherit them."""
        env = os.environ if environ is None else environ
        notifier = cls(env.get("NOTIFY_SOCKET", ""), watchdog_interval_s(env))
        if unset and environ is None:
            for key in NOTIFY_ENV:
                os.environ.pop(key, None)
        return notifier

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def _target(self) -> str | bytes:
        if self.address.startswith("@"):
            return b"\0" + self.address[1:].encode()  # Linux abstract namespace
        return self.address

    def notify(self, *lines: str) -> bool:
        """Send `KEY=VALUE` lines as one datagram; True when sent (False when disabled or it failed)."""
        if self._socket is None or not lines:
            return False
        message = "\n".join(line.replace("\n", " ") for line in lines)
        try:
            self._socket.sendto(message.encode("utf-8", "replace"), self._target())
        except OSError as exc:
            if not self._warned:
                self._warned = True
                logger.warning("sd_notify to %s failed: %s (further failures are not logged)", self.address, exc)
            return False
        self.sent.append(message)
        del self.sent[:-32]
        return True

    def ready(self, status: str = "") -> bool:
        """READY=1 (and STATUS=)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """WATCHDOG=1."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """STATUS=text (shown by systemctl status)."""
        return self.notify(f"STATUS={text}")

    def stopping(self, status: str = "") -> bool:
        """STOPPING=1."""
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        """RELOADING=1 with MONOTONIC_USEC (what Type=notify-reload expects; harmless for Type=notify)."""
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def close(self) -> None:
        """Close the socket. Idempotent."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
