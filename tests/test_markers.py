"""The quick loop's markers are right: the modules marked as TensorFlow users are exactly those that import it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import CONVERT_MODULES, ROOT


@pytest.mark.slow
def test_convert_modules_are_exactly_the_tensorflow_importers() -> None:
    modules = sorted(p.stem for p in (ROOT / "tests").glob("test_*.py"))
    code = ("import importlib, sys\n"
            f"sys.path[:0] = [{str(ROOT / 'tests')!r}, {str(ROOT)!r}]\n"
            "name = sys.argv[1]\n"
            "importlib.import_module(name)\n"
            "print(any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules))\n")
    importers = set()
    for name in modules:
        proc = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{name}: {proc.stderr[-500:]}"
        if proc.stdout.strip().splitlines()[-1] == "True":
            importers.add(name)
    assert importers == CONVERT_MODULES
