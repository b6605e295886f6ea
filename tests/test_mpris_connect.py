"""MprisSink's connection through public jeepney API: a bus that authenticates but never answers Hello, or
never authenticates, costs one bounded wait and one log line, never a hung sink thread. (Real players on a
real dbus-daemon: tests/test_mpris.py.)"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from edge.settings import MprisSettings
from edge.sinks.mpris import MprisSink
from tests.fakes import gesture_event

GUID = b"0123456789abcdef0123456789abcdef"


class SilentBus:
    """A Unix socket that speaks D-Bus authentication (when `authenticate`) and then never answers."""

    def __init__(self, path: Path, authenticate: bool) -> None:
        self.path, self.authenticate = path, authenticate
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(4)
        self.clients: list[socket.socket] = []
        self.began = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"unix:path={self.path}"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.clients.append(client)
            data = b""
            while self.authenticate and b"BEGIN\r\n" not in data:
                chunk = client.recv(1024)
                if not chunk:
                    break
                data += chunk
                if b"AUTH" in chunk:
                    client.sendall(b"OK " + GUID + b"\r\n")
            if b"BEGIN\r\n" in data:
                self.began.set()  # authenticated: from here on the Hello call gets no reply

    def close(self) -> None:
        self.server.close()
        for client in self.clients:
            client.close()


@pytest.mark.parametrize("authenticate", [True, False], ids=["no-hello-reply", "no-auth-reply"])
def test_a_silent_bus_costs_one_bounded_wait(tmp_path: Path, caplog, authenticate: bool) -> None:
    bus = SilentBus(tmp_path / "bus", authenticate)
    sink = MprisSink(MprisSettings(timeout_s=0.5), bus_address=bus.address)
    try:
        with caplog.at_level(logging.WARNING, logger="edge.sinks.mpris"):
            started = time.monotonic()
            sink.handle(gesture_event("Swipe", "play"))
            elapsed_s = time.monotonic() - started
    finally:
        sink.close()
        bus.close()
    assert bus.began.is_set() == authenticate  # the Hello case really got past authentication
    assert 0.4 <= elapsed_s < 3.0, elapsed_s
    assert sink.counters == {"sent": 0, "dropped": 1, "failed": 0}
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"mpris: dropped play (Swipe): the session bus at {bus.address} did not answer within 0.5 s"]
