"""Running a sink's external tool (cec-ctl, cec-client, espeak-ng, a bound command) with hard limits.

Every tool runs in its own session (its own process group), so that a timeout ends the tool *and* whatever
it started, and so that it does not get the terminal's Ctrl-C: gesture-edge ends it instead, on timeout and
when gesture-edge itself exits (`kill_running`, registered with atexit). Only the last
`OUTPUT_LIMIT_BYTES` of each output stream are kept: a command bound to `yes` must not fill the memory.
"""

from __future__ import annotations

import atexit
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

logger = logging.getLogger(__name__)

OUTPUT_LIMIT_BYTES = 64 * 1024
"""Bytes kept of each of a tool's stdout and stderr (the tail): log lines only ever need the last one."""
READ_CHUNK_BYTES = 64 * 1024

_running: dict[int, subprocess.Popen[bytes]] = {}
"""pid (= process group id) -> the tools running now, so that `kill_running` can end them at exit."""
_running_lock = threading.Lock()


@dataclass(frozen=True)
class ProcResult:
    """What `run_bounded` observed."""

    returncode: int | None
    """None when the command timed out (and was killed) or could not be started."""
    stdout: str
    """The last `output_limit_bytes` of the output (decoded as UTF-8, undecodable bytes replaced)."""
    stderr: str
    timed_out: bool = False
    error: str = ""
    """Why the command could not be started ('' when it ran)."""
    output_bytes: int = 0
    """Bytes the command wrote to stdout and stderr together, including the ones not kept."""


def run_bounded(argv: list[str], timeout_s: float, *, input_text: str | None = None,
                env: dict[str, str] | None = None, output_limit_bytes: int = OUTPUT_LIMIT_BYTES) -> ProcResult:
    """Run argv (no shell) for at most `timeout_s`, keeping the tail of its output; on timeout kill its group.

    Like `subprocess.run(argv, timeout=...)`, but the child gets its own session so that its own children die
    with it (otherwise they keep the output pipes open and the call waits for them), memory stays bounded
    whatever it prints, and a child that outlives the timeout by holding the pipes cannot hold the caller.
    """
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in argv
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return ProcResult(None, "", "", error=f"{type(exc).__name__}: {reason}")
    with _running_lock:
        _running[proc.pid] = proc
    try:
        return _communicate(proc, timeout_s, input_text, output_limit_bytes)
    finally:
        with _running_lock:
            _running.pop(proc.pid, None)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _communicate(proc: subprocess.Popen[bytes], timeout_s: float, input_text: str | None,
                 limit: int) -> ProcResult:
    deadline = time.monotonic() + timeout_s
    if proc.stdin is not None:
        # The tools fed this way take one short line (cec-client, espeak-ng): far below the pipe's buffer.
        try:
            proc.stdin.write((input_text or "").encode("utf-8"))
            proc.stdin.close()
        except BrokenPipeError:
            pass
    tails = {"stdout": bytearray(), "stderr": bytearray()}
    total = 0
    timed_out = False
    with selectors.DefaultSelector() as selector:
        for name in tails:
            selector.register(getattr(proc, name), selectors.EVENT_READ, name)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _events in selector.select(remaining):
                chunk = os.read(key.fd, READ_CHUNK_BYTES)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                total += len(chunk)
                tail = tails[key.data]
                tail += chunk
                if len(tail) > limit:
                    del tail[: len(tail) - limit]
    if not timed_out:
        try:  # the output is closed; the command itself may still run (it closed its output on purpose)
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    if timed_out:
        _kill_group(proc)
        proc.wait()
    out, err = (tails[name].decode("utf-8", errors="replace") for name in ("stdout", "stderr"))
    return ProcResult(None if timed_out else proc.returncode, out, err, timed_out=timed_out, output_bytes=total)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group is gone already (a reused id of another user's group is refused, not killed)


def kill_running() -> int:
    """Kill the process group of every tool running now; returns how many. Runs at interpreter exit."""
    with _running_lock:
        procs = list(_running.values())
    for proc in procs:
        _kill_group(proc)
    if procs:
        logger.info("killed %d external command(s) still running at exit", len(procs))
    return len(procs)


atexit.register(kill_running)


def last_line(text: str, limit: int = 200) -> str:
    """The last non-empty line of a tool's output, shortened: what goes into a one-line log message."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return line if len(line) <= limit else line[: limit - 3] + "..."
