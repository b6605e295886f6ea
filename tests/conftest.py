"""Shared fixtures. Blocks owned by one area are marked; keep them separate."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The runtime's child-process test load caches a stamp per bundle under $XDG_CACHE_HOME/gesture-edge: keep the
# suite's stamps (and everything else cached) out of the user's own cache folder, in one per session.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="gesture-edge-tests-cache-")
DEMO_MODEL = ROOT / "models" / "demo" / "model.keras"
CALIB_DIR = ROOT / "calib_data"
DEMO_STREAM = ROOT / "demo" / "streams" / "demo.mp4"


def run_cli(args: list[str], *, timeout: float = 600, env: dict[str, str] | None = None,
            check: bool = False, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run `python -m <module> ...` (or any argv) with the repo on PYTHONPATH; text output captured."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if env:
        full_env.update(env)
    proc = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\n"
                             f"stderr:\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def demo_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled demo model converted with gesture-convert (once per session) into a temp folder.

    `--min-agreement 0`: this fixture serves tests of the runtime's machinery; the demo model's int8/float
    agreement target is asserted by its own test (tests/test_export.py).
    """
    assert DEMO_MODEL.is_file(), f"{DEMO_MODEL} is missing: the demo model is part of the repository"
    out = tmp_path_factory.mktemp("demo") / "bundle"
    run_cli([sys.executable, "-m", "convert.export", str(DEMO_MODEL), "--calib", str(CALIB_DIR),
             "--out", str(out), "--min-agreement", "0"], check=True)
    return out


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A CLI run in-process (basicConfig at info, a handler on that test's captured stderr) must not change
    what later tests' caplog sees, nor leave a handler writing to a stream pytest has closed."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    for handler in list(root.handlers):
        if handler not in handlers and not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
            handler.close()


# --- markers (the quick loop: pytest -m "not slow and not convert") ------------------------------------
CONVERT_FIXTURES = {"demo_bundle"}
"""Fixtures that run TensorFlow (gesture-convert): a test that uses one, directly or through another
fixture, needs the [convert] extra and is marked `convert`."""
CONVERT_MODULES = {"test_export", "test_train", "test_model", "test_negatives", "test_in_room"}
"""Test modules that import TensorFlow/Keras (tests/test_markers.py checks this list)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `convert` every test that needs TensorFlow, by its module or its fixtures."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if module in CONVERT_MODULES or CONVERT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.convert)
