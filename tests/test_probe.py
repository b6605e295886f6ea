"""edge.probe: where the verdicts are cached, and that a stop request ends a test load at once. (A model that
really crashes the runtime, through the CLI: tests/test_cli_edge.py.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.probe import ProbeInterrupted, cache_dir, probe_bundle


def test_the_cache_folder_follows_systemd_then_xdg_then_home() -> None:
    assert cache_dir({"CACHE_DIRECTORY": "/var/cache/gesture-edge:/x", "XDG_CACHE_HOME": "/c", "HOME": "/h"}) == \
        Path("/var/cache/gesture-edge")
    assert cache_dir({"XDG_CACHE_HOME": "/c", "HOME": "/h"}) == Path("/c/gesture-edge")
    assert cache_dir({"HOME": "/h"}) == Path("/h/.cache/gesture-edge")


def test_a_stop_request_ends_the_test_load_and_caches_nothing(demo_bundle: Path, tmp_path: Path) -> None:
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    started = time.monotonic()
    with pytest.raises(ProbeInterrupted):  # the child takes longer than one wait slice to even start Python
        probe_bundle(demo_bundle, should_stop=lambda: True, environ=environ)
    assert time.monotonic() - started < 2.0
    assert not list(tmp_path.rglob("*.ok"))
    assert probe_bundle(demo_bundle, environ=environ) is True  # it ran now...
    assert len(list(tmp_path.rglob("*.ok"))) == 1
    assert probe_bundle(demo_bundle, environ=environ) is False  # ...and is cached from then on
