"""Resolve the TFLite interpreter backend, lazily, once.

Order: `ai_edge_litert` (maintained; aarch64 and x86_64 wheels for CPython 3.10-3.14) -> `tflite_runtime`
(2.14, the last release: CPython <= 3.11, numpy < 2) -> `tensorflow.lite` (a workstation with TensorFlow). A
config or flag can force one. Nothing is imported until a bundle is loaded, so `import edge` stays light.
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass
from typing import Any

from edge.errors import one_line

logger = logging.getLogger(__name__)

BACKEND_ORDER = ("ai_edge_litert", "tflite_runtime", "tensorflow")
_MODULES = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
    "tensorflow": "tensorflow.lite",
}
INSTALL_HINT = "pip install ai-edge-litert"
TFLITE_RUNTIME_MAX_PYTHON = (3, 11)
"""tflite-runtime 2.14 (2023) is the last release: wheels for CPython <= 3.11 and numpy 1.x only."""


def _forced_hint(name: str, python: tuple[int, int]) -> str:
    """What to do when the backend a config or flag forces cannot be imported (one clause)."""
    if name == "tflite_runtime" and python > TFLITE_RUNTIME_MAX_PYTHON:
        return (f"tflite-runtime has no release for Python {python[0]}.{python[1]} (its last, 2.14, stops at "
                f"Python {TFLITE_RUNTIME_MAX_PYTHON[0]}.{TFLITE_RUNTIME_MAX_PYTHON[1]}); use backend "
                f"ai_edge_litert ({INSTALL_HINT}) or auto")
    if name == "tensorflow":
        return "TensorFlow is a workstation package; on a Pi use backend ai_edge_litert or auto"
    return f"{INSTALL_HINT} or use backend auto"


class BackendUnavailable(RuntimeError):
    """No usable TFLite runtime (or not the one asked for). The message is one line."""


@dataclass(frozen=True)
class Backend:
    """One importable TFLite runtime."""

    name: str
    version: str
    interpreter_cls: Any

    def interpreter(self, model_path: str, num_threads: int | None = None) -> Any:
        """A new interpreter for `model_path` (XNNPACK is the default delegate in all three runtimes)."""
        return self.interpreter_cls(model_path=str(model_path), num_threads=num_threads)


_cache: dict[str, Backend] = {}


def _import(name: str) -> Backend:
    if name == "tensorflow":  # tf.lite is an attribute of the package, not an importable submodule
        interpreter_cls = importlib.import_module("tensorflow").lite.Interpreter
    else:
        interpreter_cls = importlib.import_module(_MODULES[name]).Interpreter
    version = "unknown"
    try:
        from importlib.metadata import version as dist_version

        dist = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}.get(name)
        if dist:
            version = dist_version(dist)
        else:
            version = importlib.import_module("tensorflow").__version__
    except Exception:  # noqa: BLE001 - the version is informative only
        pass
    return Backend(name=name, version=version, interpreter_cls=interpreter_cls)


def resolve_backend(name: str = "auto") -> Backend:
    """Return the backend `name`, or the first importable one for 'auto'; logs the choice once."""
    if name in _cache:
        return _cache[name]
    if name != "auto" and name not in _MODULES:
        raise BackendUnavailable(f"unknown backend '{name}': expected auto, {', '.join(BACKEND_ORDER)}")
    candidates = BACKEND_ORDER if name == "auto" else (name,)
    failures = []
    for candidate in candidates:
        try:
            backend = _import(candidate)
        except Exception as exc:  # noqa: BLE001 - ImportError, or a wheel built for another numpy ABI
            failures.append(f"{candidate}: {one_line(exc, with_type=True)}")
            logger.debug("backend %s not usable: %s", candidate, exc)
            continue
        logger.info("TFLite backend: %s %s", backend.name, backend.version)
        _cache[name] = backend
        return backend
    if name == "auto":
        raise BackendUnavailable(f"no TFLite runtime found ({'; '.join(failures)}): {INSTALL_HINT}")
    raise BackendUnavailable(f"backend '{name}' is not usable ({failures[0]}); "
                             f"{_forced_hint(name, sys.version_info[:2])}")
