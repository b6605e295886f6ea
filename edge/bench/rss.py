"""gesture-bench rss: peak RSS of `gesture-edge run` on a stream, measured from outside.

The child is `python -c WRAPPER OUT run --bundle ... --source ...`: the wrapper calls `edge.cli.main` (what
the `gesture-edge` console script calls) and, on the way out, records the process's own high-water mark
(VmHWM) and whether TensorFlow, Keras or `convert` were imported. The parent reaps it with `os.wait4`, whose
`ru_maxrss` is reported too: on Linux that one is max(the child's peak, this parent's peak when it started
the child), since the high-water mark is inherited across fork + exec; this parent stays small (< 60 MiB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.bench import BenchError
from edge.bench.latency import DEFAULT_STREAM, PACKAGE_PARENT
from edge.bench.output import load_average, max_rss_mb, rusage_mb

HEAVY_MODULES = ("tensorflow", "keras", "convert", "mediapipe", "torch", "jax")
TARGET_PEAK_RSS_MB = 150.0

_WRAPPER = r"""
import json, sys
out, argv = sys.argv[1], sys.argv[2:]
code = 1
try:
    from edge.cli import main
    code = main(argv)
finally:
    heavy = sorted({m.split(".")[0] for m in list(sys.modules)} & set(HEAVY))
    hwm = None
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                hwm = float(line.split()[1]) / 1024.0
    except OSError:
        pass
    with open(out, "w") as handle:
        json.dump({"heavy_modules": heavy, "vm_hwm_mb": hwm, "exit_code": code}, handle)
sys.exit(code)
"""


@dataclass(frozen=True)
class RssSettings:
    """What `gesture-bench rss` runs."""

    bundle: Path
    source: str | None = None
    """Video file; None: DEFAULT_STREAM in the working directory."""
    config: Path | None = None
    edge_args: tuple[str, ...] = ()
    """Extra arguments for `gesture-edge run`."""
    timeout_s: float = 900.0


def run_rss(settings: RssSettings) -> dict[str, Any]:
    """Run `gesture-edge run` once in a child and report its peak RSS."""
    if settings.source is None:
        source = DEFAULT_STREAM
        if not source.is_file():
            raise BenchError(f"--source not given and no {DEFAULT_STREAM} in the working directory {Path.cwd()}: "
                             "pass --source FILE")
    else:
        source = Path(settings.source)
        if not source.exists():
            raise BenchError(f"--source {source}: not found")
    argv = ["run", "--bundle", str(settings.bundle), "--source", str(source)]
    if settings.config is not None:
        argv += ["--config", str(settings.config)]
    argv += list(settings.edge_args)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PACKAGE_PARENT) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="gesture-bench-rss-") as tmp:
        out = Path(tmp) / "child.json"
        err_path = Path(tmp) / "stderr.txt"
        wrapper = _WRAPPER.replace("set(HEAVY)", repr(set(HEAVY_MODULES)))
        parent_peak_mb = max_rss_mb()
        started = time.perf_counter()
        with open(err_path, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-c", wrapper, str(out), *argv], env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            deadline = time.monotonic() + settings.timeout_s
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.05)
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        wall_s = time.perf_counter() - started
        child = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
        stderr_tail = err_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
    wait4_mb = rusage_mb(usage.ru_maxrss)
    peak = child.get("vm_hwm_mb") or wait4_mb
    return {
        "tool": "gesture-bench rss",
        "child_command": "gesture-edge " + " ".join(argv),
        "returncode": proc.returncode,
        "wall_s": wall_s,
        "peak_rss_mb": peak,
        "vm_hwm_mb": child.get("vm_hwm_mb"),
        "wait4_ru_maxrss_mb": wait4_mb,
        "parent_peak_rss_mb_at_start": parent_peak_mb,
        "heavy_modules": child.get("heavy_modules"),
        "target_mb": TARGET_PEAK_RSS_MB,
        "verdict": "met" if peak <= TARGET_PEAK_RSS_MB and not child.get("heavy_modules") else "MISSED",
        "stderr_tail": stderr_tail,
        "load_average": load_average(),
    }
