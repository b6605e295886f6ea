"""Backend resolution: the forced-backend errors say what to use instead."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from edge.backend import BackendUnavailable, _forced_hint, resolve_backend


def test_tflite_runtime_hint_names_its_python_limit_on_newer_pythons() -> None:
    hint = _forced_hint("tflite_runtime", (3, 13))
    assert "no release for Python 3.13" in hint and "stops at Python 3.11" in hint
    assert "ai_edge_litert" in hint and "pip install ai-edge-litert" in hint


def test_tflite_runtime_hint_on_311_is_the_install_hint() -> None:
    assert _forced_hint("tflite_runtime", (3, 11)) == "pip install ai-edge-litert or use backend auto"


@pytest.mark.skipif(importlib.util.find_spec("tflite_runtime") is not None, reason="tflite_runtime is installed")
def test_forcing_a_missing_backend_is_one_line_with_the_hint() -> None:
    with pytest.raises(BackendUnavailable) as info:
        resolve_backend("tflite_runtime")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("backend 'tflite_runtime' is not usable (tflite_runtime: ModuleNotFoundError")
    assert message.endswith(_forced_hint("tflite_runtime", sys.version_info[:2]))
