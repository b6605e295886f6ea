"""A bundle's models loaded and run first in a short-lived child process, so a model that crashes the runtime
costs a one-line error naming the file instead of the service.

A model file can pass every check of `edge.bundle` (hash, signature, shapes, quantization) and still crash the
TFLite runtime: with a per-channel weight scale changed to 1e6 and its sha256 updated in the manifest,
ai_edge_litert 2.3.0 aborts (SIGABRT) while preparing the graph. In the service's own process that kills it
with no word on why, and systemd restarts it into the same crash. So `probe_bundle` runs `python -m edge.probe`
first: the same `load_bundle`, then the streaming classifier at every batch size a hop can give it, on a few
frames. Only when that child exits cleanly does the service load the models itself.

The verdict is cached by content, so it costs once (a second or two): a stamp file named by a hash of the
model files' sha256, the clip length, the runtime, its version, the thread count, Python and the machine,
under $CACHE_DIRECTORY (systemd's CacheDirectory=), else $XDG_CACHE_HOME/gesture-edge, else
~/.cache/gesture-edge. Where none is writable the probe simply runs at every start.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import edge
from edge.errors import one_line

logger = logging.getLogger(__name__)

PROBE_VERSION = 1
"""Part of the cache key: a change to what the child checks invalidates the old stamps."""
PROBE_TIMEOUT_S = 120.0
"""A test load that takes longer is reported as hanging (the real load takes about a second)."""
WAIT_SLICE_S = 0.05
"""How often the parent checks for a stop request while the child works."""
APP_DIR_NAME = "gesture-edge"
_MARK = "@ "
_OK = "ok"
_ERROR = "error: "


class ProbeInterrupted(Exception):
    """A stop was requested while the child was loading the models (the child was killed)."""


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the stamps go: $CACHE_DIRECTORY (set by systemd's CacheDirectory=), else
    $XDG_CACHE_HOME/gesture-edge, else ~/.cache/gesture-edge."""
    env = os.environ if environ is None else environ
    systemd = env.get("CACHE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(base) / APP_DIR_NAME


def _specs(manifest: Any, precision: str) -> dict[str, Any]:
    """The manifest's model specs that `load_bundle` uses at this precision, by manifest field."""
    if precision == "float":
        return {"float_features": manifest.float_features, "float_step": manifest.float_step}
    return {"features": manifest.features, "step": manifest.step}


def probe_key(model_sha256: Sequence[str], frames_per_clip: int, backend: str, backend_version: str,
              num_threads: int | None, precision: str) -> str:
    """The cache key of one verdict: everything the child's outcome depends on."""
    facts = [PROBE_VERSION, sorted(model_sha256), frames_per_clip, backend, backend_version, num_threads, precision,
             platform.python_version(), platform.machine()]
    return hashlib.sha256(json.dumps(facts).encode("utf-8")).hexdigest()


def probe_bundle(path: str | os.PathLike[str], *, backend: str = "auto", num_threads: int | None = 2,
                 precision: str = "int8", should_stop: Callable[[], bool] = lambda: False,
                 timeout_s: float = PROBE_TIMEOUT_S, environ: Mapping[str, str] | None = None) -> bool:
    """Load and run the bundle's models in a child process unless a stamp says that was done; True if it ran now.

    Raises edge.bundle.BundleError (one line naming the file) when the child crashes, fails or hangs, the
    manifest's own errors (ManifestError) as they are, and ProbeInterrupted when `should_stop()` turns true.
    `environ` is where the cache folder is looked up (default os.environ).
    """
    from edge.backend import BackendUnavailable, resolve_backend
    from edge.bundle import BundleError
    from edge.manifest import Manifest

    path = Path(path)
    manifest = Manifest.load(path)
    specs = _specs(manifest, precision)
    if any(spec is None for spec in specs.values()):
        return False  # load_bundle says what is missing
    try:
        chosen = resolve_backend(backend)
    except BackendUnavailable as exc:
        raise BundleError(str(exc)) from None
    key = probe_key([spec.sha256 for spec in specs.values()], manifest.frames_per_clip, chosen.name,
                    chosen.version, num_threads, precision)
    stamp = cache_dir(environ) / "probed" / f"{key}.ok"
    if stamp.is_file():
        logger.debug("bundle %s: models already test-loaded with %s %s (%s)", path, chosen.name, chosen.version,
                     stamp)
        return False
    started = time.monotonic()
    _run_child(path, chosen.name, chosen.version, num_threads, precision, should_stop, timeout_s)
    logger.info("bundle %s: models test-loaded in a child process with %s %s (%.1f s; cached in %s)", path,
                chosen.name, chosen.version, time.monotonic() - started, stamp.parent)
    _write_stamp(stamp, path)
    return True


def _write_stamp(stamp: Path, bundle: Path) -> None:
    from edge.fileio import write_text_atomic

    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(stamp, f"{bundle}\n")
    except OSError as exc:  # a read-only home: the probe runs again next start, nothing else changes
        logger.info("cannot cache the test load in %s (%s): it runs again at the next start", stamp.parent,
                    exc.strerror or exc)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child imports this very package: from a source tree that is on sys.path by other means than an
    # install, through PYTHONPATH (an installed one, in site-packages, is found anyway).
    root = Path(edge.__file__).resolve().parents[1]
    if root.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):  # systemd talks to the service only
        env.pop(name, None)
    return env


def _run_child(path: Path, backend: str, version: str, num_threads: int | None,
               precision: str, should_stop: Callable[[], bool], timeout_s: float) -> None:
    from edge.bundle import BundleError

    args = [sys.executable, "-m", "edge.probe", str(path), "--backend", backend, "--precision", precision]
    if num_threads is not None:
        args += ["--threads", str(num_threads)]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_child_env(), text=True, errors="replace")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            out, err = proc.communicate(timeout=WAIT_SLICE_S)
            break
        except subprocess.TimeoutExpired:
            if should_stop():
                proc.kill()
                proc.communicate()
                raise ProbeInterrupted("stopped while the models were test-loaded") from None
            if time.monotonic() > deadline:
                proc.kill()
                out, err = proc.communicate()
                raise BundleError(f"{_current(out, path)}: loading it in a test process did not finish within "
                                  f"{timeout_s:g} s") from None
    lines = out.splitlines()
    if proc.returncode == 0 and _OK in lines:
        return
    for line in lines:
        if line.startswith(_ERROR):
            raise BundleError(line[len(_ERROR):])
    where = _current(out, path)
    # The runtime's last words ("double free detected"), not its routine chatter.
    detail = next((line.strip() for line in reversed(err.splitlines())
                   if line.strip() and not line.startswith(("INFO:", "WARNING: All log messages"))), "")
    if proc.returncode < 0:
        name = _signal_name(-proc.returncode)
        raise BundleError(f"{where}: the {backend} {version} runtime crashed on it ({name} in a test load in a "
                          f"child process{': ' + detail if detail else ''}): the file is damaged, or not a model "
                          f"this runtime can run")
    raise BundleError(f"{where}: the test load in a child process failed (exit status {proc.returncode}"
                      f"{': ' + detail if detail else ''})")


def _current(out: str, path: Path) -> str:
    """The file(s) the child last announced, else the bundle folder."""
    marks = [line[len(_MARK):] for line in out.splitlines() if line.startswith(_MARK)]
    return marks[-1] if marks else str(path)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# -- the child -------------------------------------------------------------------------------------------------


def _announce(text: str) -> None:
    print(f"{_MARK}{text}", flush=True)  # flushed: the last one names the file if the runtime kills us next


def _child(path: Path, backend: str, num_threads: int | None, precision: str) -> None:
    import numpy as np

    from edge.backend import resolve_backend
    from edge.bundle import load_bundle, zero_of
    from edge.manifest import Manifest
    from edge.stream import StreamingClassifier

    manifest = Manifest.load(path)
    chosen = resolve_backend(backend)
    files = []
    for spec in _specs(manifest, precision).values():
        file = path / spec.file
        files.append(str(file))
        _announce(str(file))
        # The runtime's first steps on this file alone (create, allocate, invoke), so a crash names it.
        try:
            interpreter = chosen.interpreter(str(file), num_threads=num_threads)
            runner = interpreter.get_signature_runner(spec.signature)
            runner(**{t.name: zero_of(t) for t in spec.inputs.values()})
        except Exception:  # noqa: BLE001 - load_bundle below reports a clean failure in its own words
            break
    _announce(" or ".join(files))  # from here on both models run in turn
    bundle = load_bundle(path, backend, num_threads, precision)
    frames = manifest.frames_per_clip
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (*bundle.input_size_hw, 3), dtype=np.uint8)
    # Every batch size a hop can give the step model (ceil(T / hop) for hop 1..T), two frames each.
    hops: dict[int, int] = {}
    for hop in range(1, frames + 1):
        hops.setdefault(math.ceil(frames / hop), hop)
    for hop in hops.values():
        stream = StreamingClassifier(bundle, hop)
        for index in range(2):
            stream.push(frame, index / manifest.model_fps)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m edge.probe BUNDLE [--backend NAME] [--threads N] [--precision P]`: the child's side.

    Prints `@ FILE` before touching each model file, then `ok` (exit 0), or `error: MESSAGE` (exit 2) for a
    clean failure; a crash of the runtime ends it with a signal, and the last `@` line names the file."""
    parser = argparse.ArgumentParser(prog="python -m edge.probe", description=main.__doc__)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precision", default="int8")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        _child(args.bundle, args.backend, args.threads, args.precision)
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the parent as one line
        print(f"{_ERROR}{one_line(exc)}", flush=True)
        return 2
    print(_OK, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
