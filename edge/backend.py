"""Resolve the TFLite interpreter backend, lazily, once.

Order: `ai_edge_litert` (maintained, Python 3.10-3.14, aarch64 wheels) -> `tflite_runtime` (2.14, Python <= 3.11,
numpy < 2) -> `tensorflow.lite` (a workstation with TensorFlow). A config or flag can force one. Nothing is
imported until a bundle is loaded, so `import edge` stays light.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

BACKEND_ORDER = ("ai_edge_litert", "tflite_runtime", "tensorflow")
_MODULES = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
    "tensorflow": "tensorflow.lite",
}
INSTALL_HINT = "pip install ai-edge-litert"


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
            failures.append(f"{candidate}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            logger.debug("backend %s not usable: %s", candidate, exc)
            continue
        logger.info("TFLite backend: %s %s", backend.name, backend.version)
        _cache[name] = backend
        return backend
    if name == "auto":
        raise BackendUnavailable(f"no TFLite runtime found ({'; '.join(failures)}): {INSTALL_HINT}")
    raise BackendUnavailable(f"backend '{name}' is not usable ({failures[0]}); {INSTALL_HINT} or use backend auto")
