"""gesture-bench output helpers: statistics, a tiny progress line, machine facts, table/markdown/JSON/plot.

Only the standard library and numpy are imported here; matplotlib is imported inside `write_plot` (and
only there), so a Pi without it can run every benchmark and only `--plot` asks for it.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from edge.fileio import atomic_path, write_text_atomic

logger = logging.getLogger(__name__)

PLOT_INSTALL_HINT = "pip install matplotlib"


class PlotUnavailable(RuntimeError):
    """matplotlib is missing. The message is one line naming the package to install."""


# -- statistics ---------------------------------------------------------------------------------------------

def stats_ms(values_ms: Iterable[float] | np.ndarray) -> dict[str, Any]:
    """count, mean, p50/p95/p99 (numpy linear percentiles), min, max of a list of milliseconds."""
    values = np.asarray(list(values_ms) if not isinstance(values_ms, np.ndarray) else values_ms, dtype=np.float64)
    if values.size == 0:
        return {"count": 0, "mean_ms": None, "p50_ms": None, "p95_ms": None, "p99_ms": None,
                "min_ms": None, "max_ms": None}
    p50, p95, p99 = (float(v) for v in np.percentile(values, [50, 95, 99]))
    return {"count": int(values.size), "mean_ms": float(values.mean()), "p50_ms": p50, "p95_ms": p95,
            "p99_ms": p99, "min_ms": float(values.min()), "max_ms": float(values.max())}


def max_rss_mb(who: int | None = None) -> float:
    """Peak resident set size in MiB of this process (or RUSAGE_CHILDREN) from getrusage.

    On Linux a process inherits its parent's high-water mark across fork + exec, so for a child started by
    a big parent this is max(parent's peak at the start, own peak); `memory_mb` reads the process's own.
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF if who is None else who)
    return rusage_mb(usage.ru_maxrss)


def memory_mb() -> dict[str, Any]:
    """This process's current RSS and its own peak (VmRSS, VmHWM from /proc; getrusage elsewhere), MiB."""
    try:
        fields = {}
        for line in Path("/proc/self/status").read_text(encoding="ascii", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = float(value.split()[0]) / 1024.0  # kB
        if len(fields) == 2:
            return {"rss": fields["VmRSS"], "peak": fields["VmHWM"], "source": "/proc/self/status"}
    except OSError:
        pass
    peak = max_rss_mb()
    return {"rss": peak, "peak": peak, "source": "getrusage"}


def rusage_mb(ru_maxrss: int) -> float:
    """ru_maxrss -> MiB (KiB on Linux, bytes on macOS)."""
    return ru_maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else ru_maxrss / 1024.0


# -- machine facts ---------------------------------------------------------------------------------------

def load_average() -> list[float] | None:
    """1/5/15-minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """What a reader needs to compare figures between machines."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


# -- progress ----------------------------------------------------------------------------------------------

class Progress:
    """A one-line progress indicator on stderr: redrawn in place on a terminal, a few plain lines otherwise.

    Edge installs have no tqdm; this is all a benchmark needs.
    """

    def __init__(self, total: int, desc: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = max(int(total), 1)
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.count = 0
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._last_quarter = -1

    def update(self, n: int = 1) -> None:
        """Advance by n and redraw (at most 5 times a second on a terminal; every 25 % otherwise)."""
        self.count += n
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw >= 0.2 or self.count >= self.total:
                self._last_draw = now
                self._draw(now, end="")
        else:
            quarter = min(4, self.count * 4 // self.total)
            if quarter != self._last_quarter and quarter > 0:
                self._last_quarter = quarter
                self._draw(now, end="\n")

    def _draw(self, now: float, end: str) -> None:
        elapsed = max(now - self._start, 1e-9)
        done = min(self.count, self.total)
        width = 20
        filled = done * width // self.total
        line = (f"{self.desc} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                f"{done / elapsed:.1f}/s")
        prefix = "\r" if self.tty else ""
        try:
            self.stream.write(f"{prefix}{line}{end}")
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def close(self) -> None:
        """End the line on a terminal."""
        if self.enabled and self.tty:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass


# -- formatting --------------------------------------------------------------------------------------------

def fmt(value: Any, digits: int = 2, suffix: str = "") -> str:
    """Numbers for tables: None -> '-', floats rounded."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if not np.isfinite(value):
            return "-"
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain, aligned table (first column left-aligned, others right-aligned)."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write results atomically (temp file + rename)."""
    write_text_atomic(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def import_pyplot() -> Any:
    """matplotlib.pyplot with the file-only Agg backend, or PlotUnavailable naming what to install."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable(f"--plot needs matplotlib, which is not installed: {PLOT_INSTALL_HINT}") from None
    return plt


def save_figure(fig: Any, path: Path) -> None:
    """Save a figure atomically (temp file + rename) and close it."""
    try:
        with atomic_path(path, f".tmp{path.suffix}") as tmp:  # the suffix picks matplotlib's format
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
