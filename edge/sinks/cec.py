"""HDMI-CEC sink: remote-control key presses to the TV or the audio system through the kernel CEC API.

Uses `cec-ctl` (v4l-utils) on `/dev/cecN`; falls back to `cec-client` (libCEC, cec-utils) when cec-ctl is
not installed. Every tool call is `argv` without a shell, bounded by `CecSettings.timeout_s`.

cec-ctl, per device and once per run:
    cec-ctl -d DEV -s --playback --osd-name NAME -l        claim a Playback Device logical address
    cec-ctl -d DEV -s -t 5 --poll                          is there an audio system (logical address 5)?
and per action, one call that sends <User Control Pressed> then <User Control Released>:
    cec-ctl -d DEV -s -t ADDR --user-control-pressed ui-cmd=NAME --user-control-released
then, with `CecSettings.osd` on and a text for the action, <Set OSD String> (0x64) to the TV, shown for the
TV's default time (display control 0x00):
    cec-ctl -d DEV -s -t 0 --set-osd-string disp-ctl=default,osd=TEXT
cec-ctl exits 0 even when a frame is not acknowledged, so its output is parsed: every message must print a
`Sequence:` line and no `Tx, ...` status line without `OK` (format from v4l-utils' cec-ctl.cpp/cec-info.cpp).

cec-client (single-command mode reads exactly one line from stdin, so press and release are two calls):
    echo 'tx 40:44:44' | cec-client -s -d 1 -t p -o NAME    (source 4 = Playback Device 1)
    echo 'tx 40:45'    | cec-client -s -d 1 -t p -o NAME
    echo 'tx 40:64:00:50:6C:61:79' | cec-client -s -d 1 -t p -o NAME   (Set OSD String "Play")
libCEC claims the address itself on every call (slower, ~1 s), as a playback device: the source nibble is 4,
which is right unless another playback device already holds 4 (then prefer cec-ctl).

Targets: play/pause/stop/next/previous go to `play_target` (default 0, the TV); volume_up/volume_down/mute go
to the audio system (5) when `volume_target` is "audio", or "auto" and an audio system answers a poll
(re-checked at most every `audio_recheck_s`), else to the TV (0).

UI commands (CEC 1.4 table 27): play 0x44, pause 0x46, play_pause -> "Pause-Play Function" 0x61 (the CEC
toggle; a TV that ignores it needs separate play/pause gestures), stop 0x45, next -> Skip Forward 0x4B,
previous -> Skip Backward 0x4C, volume_up 0x41, volume_down 0x42, mute 0x43 (a toggle on the receiving side).

The on-screen text (`OSD_TEXTS` overlaid with `CecSettings.osd_texts`) is feedback only: it is sent after a
key press that went through, and its failure is logged but does not make the action count as failed.
Gesture names and the tools' output go into log lines through `printable`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from typing import Callable

from edge.events import GestureEvent
from edge.settings import OSD_TEXTS, CecSettings
from edge.sinks.base import new_counters, printable
from edge.sinks.proc import ProcResult, last_line, run_bounded

logger = logging.getLogger(__name__)

TV = 0
AUDIO_SYSTEM = 5
CEC_CLIENT_SOURCE = 4
"""The logical address libCEC takes first for a playback device (`-t p`): Playback Device 1."""
OPCODE_USER_CONTROL_PRESSED = 0x44
OPCODE_USER_CONTROL_RELEASED = 0x45
OPCODE_SET_OSD_STRING = 0x64
OSD_DISPLAY_DEFAULT = 0x00
"""<Set OSD String> display control: show for the TV's default time (0x40: until cleared, 0x80: clear)."""

UI_COMMANDS: dict[str, tuple[str, int]] = {
    "play": ("play", 0x44),
    "pause": ("pause", 0x46),
    "play_pause": ("pause-play-function", 0x61),
    "stop": ("stop", 0x45),
    "next": ("skip-forward", 0x4B),
    "previous": ("skip-backward", 0x4C),
    "volume_up": ("volume-up", 0x41),
    "volume_down": ("volume-down", 0x42),
    "mute": ("mute", 0x43),
}
"""action -> (cec-ctl ui-cmd name, UI command code)."""
VOLUME_ACTIONS = ("volume_up", "volume_down", "mute")

LA_NAMES = {0: "TV", 1: "Recording Device 1", 2: "Recording Device 2", 3: "Tuner 1", 4: "Playback Device 1",
            5: "Audio System", 6: "Tuner 2", 7: "Tuner 3", 8: "Playback Device 2", 9: "Recording Device 3",
            10: "Tuner 4", 11: "Playback Device 3", 12: "Backup 1", 13: "Backup 2", 14: "Specific",
            15: "Broadcast"}

ENABLE_HINT = ("enable HDMI-CEC: Raspberry Pi OS Bookworm's vc4-kms-v3d overlay (dtoverlay=vc4-kms-v3d in "
               "/boot/firmware/config.txt) creates /dev/cec0 (and /dev/cec1 for the second HDMI port)")


def la_name(address: int) -> str:
    """'Audio System (5)' for log lines."""
    return f"{LA_NAMES.get(address, '?')} ({address})"


def cec_ctl_transmit_ok(stdout: str, messages: int) -> tuple[bool, str]:
    """Did cec-ctl get every one of `messages` frames acknowledged? Returns (ok, why-not).

    cec-ctl prints `Sequence: ...` for each message the kernel transmitted and, when a transmit did not
    succeed, a status line like `Tx, Not Acknowledged (4), Max Retries`. A message the kernel refused
    (adapter unconfigured, no HDMI link) prints no Sequence line at all.
    """
    for line in stdout.splitlines():
        status = line.strip()
        if status.startswith("Tx") and ", OK" not in status:
            return False, printable(status)
    sequences = sum(1 for line in stdout.splitlines() if line.strip().startswith("Sequence:"))
    if sequences < messages:
        return False, (f"the kernel transmitted {sequences} of {messages} message(s) (no HDMI link, TV off, "
                       "or no logical address yet?)")
    return True, ""


def cec_ctl_osd_argv(path: str, device: str, text: str) -> list[str]:
    """cec-ctl's command line for <Set OSD String> `text` to the TV, shown for the TV's default time.

    The text is checked at config time (`edge.settings.OSD_TEXT`): ASCII, at most 13 characters, and no comma,
    which cec-ctl would take as the start of its next sub-option.
    """
    return [path, "-d", device, "-s", "-t", str(TV), "--set-osd-string", f"disp-ctl=default,osd={text}"]


class CecSink:
    """Sends User Control Pressed/Released pairs over HDMI-CEC with cec-ctl (or cec-client)."""

    name = "cec"

    def __init__(self, settings: CecSettings, *, audio_recheck_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.counters = new_counters()
        self.audio_recheck_s = audio_recheck_s
        self._clock = clock
        self._claimed_with: str | None = None
        """Path of the cec-ctl that claimed our logical address (None: not claimed yet)."""
        self.logical_address: int | None = None
        self._audio_present: bool | None = None
        self._audio_checked_at: float | None = None
        self.osd_texts = {**OSD_TEXTS, **settings.osd_texts}
        """action -> the TV's on-screen text for it ('' or missing: none), used when `settings.osd` is on."""

    # -- Sink API -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Claim the logical address and look for an audio system now, if the device and a tool are there."""
        tool = self._tool()
        if tool is None or not os.path.exists(self.settings.device):
            return  # handle() explains it on the first action
        kind, path = tool
        if kind == "cec-ctl":
            problem = self._claim(path)
            if problem:
                logger.warning("cec: %s; retrying on the first action", problem)
                return
        if self.settings.volume_target == "auto":
            self._detect_audio(kind, path)

    def handle(self, event: GestureEvent) -> None:
        """Press and release the UI command for `event.action` on its target; never raises for tool problems."""
        action, gesture = event.action, printable(event.gesture)
        if action not in UI_COMMANDS:
            self._drop(action, gesture, f"action {action!r} has no CEC user-control command")
            return
        if not os.path.exists(self.settings.device):
            self._drop(action, gesture, f"{self.settings.device} does not exist; {ENABLE_HINT}")
            return
        tool = self._tool()
        if tool is None:
            self._drop(action, gesture, self._missing_tool_text())
            return
        kind, path = tool
        if kind == "cec-ctl" and self._claimed_with != path:
            problem = self._claim(path)
            if problem:
                self._fail(action, gesture, problem)
                return
        target = self._target(action, kind, path)
        ui_name, code = UI_COMMANDS[action]
        if kind == "cec-ctl":
            ok, why = self._send_cec_ctl(path, target, ui_name)
        else:
            ok, why = self._send_cec_client(path, target, code)
        if not ok:
            self._fail(action, gesture, f"{kind} {ui_name} -> {la_name(target)}: {why}")
            return
        self.counters["sent"] += 1
        logger.info("cec: %s (%s) -> %s: %s (0x%02X) via %s", action, gesture, la_name(target), ui_name, code, kind)
        text = self.osd_texts.get(action, "")
        if self.settings.osd and text:
            ok, why = self._osd_cec_ctl(path, text) if kind == "cec-ctl" else self._osd_cec_client(path, text)
            if not ok:
                logger.warning("cec: on-screen text %r for %s (%s) failed: %s via %s", text, action, gesture, why,
                               kind)

    def close(self) -> None:
        """Nothing to release: the kernel keeps the claimed address for the next run."""

    # -- tools ------------------------------------------------------------------------------------------
    def _tool(self) -> tuple[str, str] | None:
        wanted = ("cec-ctl", "cec-client") if self.settings.tool == "auto" else (self.settings.tool,)
        for kind in wanted:
            path = shutil.which(kind)
            if path:
                return kind, path
        return None

    def _missing_tool_text(self) -> str:
        if self.settings.tool == "cec-client":
            return "cec-client not found on PATH (sudo apt install cec-utils)"
        if self.settings.tool == "cec-ctl":
            return "cec-ctl not found on PATH (sudo apt install v4l-utils)"
        return "neither cec-ctl nor cec-client found on PATH (sudo apt install v4l-utils)"

    def _run(self, argv: list[str], input_text: str | None = None) -> ProcResult:
        return run_bounded(argv, self.settings.timeout_s, input_text=input_text)

    @staticmethod
    def _problem(result: ProcResult, timeout_s: float) -> str:
        """'' when the tool ran and exited 0, else a one-line reason."""
        if result.error:
            return f"cannot run it: {result.error}"
        if result.timed_out:
            return f"no answer within {timeout_s:g} s (killed)"
        if result.returncode != 0:
            detail = last_line(result.stderr) or last_line(result.stdout) or "no output"
            return f"exit status {result.returncode}: {printable(detail)}"
        return ""

    # -- cec-ctl ----------------------------------------------------------------------------------------
    def _claim(self, path: str) -> str:
        """Claim a playback-device logical address; '' on success, else a one-line reason."""
        argv = [path, "-d", self.settings.device, "-s", "--playback", "--osd-name", self.settings.osd_name, "-l"]
        result = self._run(argv)
        problem = self._problem(result, self.settings.timeout_s)
        if problem:
            return f"claiming a playback-device address on {self.settings.device} failed: {problem}"
        numbers = re.findall(r"^\s*(\d+)\s*$", result.stdout, flags=re.MULTILINE)
        if not numbers:
            # cec-ctl exits 0 without printing an address when the kernel refused the configuration.
            return (f"{self.settings.device} stayed unconfigured after claiming a playback-device address "
                    f"({printable(last_line(result.stderr)) or 'no logical address reported'}); is it a CEC "
                    "device?")
        address = int(numbers[-1])
        self._claimed_with = path
        if address >= 15:
            # The kernel finishes the claim by itself once the TV reports a physical address.
            self.logical_address = None
            logger.warning("cec: %s has no logical address yet (TV off or HDMI unplugged?); the kernel claims "
                           "one when the TV appears", self.settings.device)
        else:
            self.logical_address = address
            logger.info("cec: %s claimed %s as %r", self.settings.device, la_name(address), self.settings.osd_name)
        return ""

    def _send_cec_ctl(self, path: str, target: int, ui_name: str) -> tuple[bool, str]:
        argv = [path, "-d", self.settings.device, "-s", "-t", str(target),
                "--user-control-pressed", f"ui-cmd={ui_name}", "--user-control-released"]
        result = self._run(argv)
        problem = self._problem(result, self.settings.timeout_s)
        if problem:
            return False, problem
        if "unconfigured" in result.stderr:
            # Someone cleared our address (another CEC tool, an adapter reset): claim again next time.
            self._claimed_with = None
            return False, "the adapter lost its logical address; it is claimed again on the next action"
        return cec_ctl_transmit_ok(result.stdout, messages=2)

    def _osd_cec_ctl(self, path: str, text: str) -> tuple[bool, str]:
        result = self._run(cec_ctl_osd_argv(path, self.settings.device, text))
        problem = self._problem(result, self.settings.timeout_s)
        if problem:
            return False, problem
        return cec_ctl_transmit_ok(result.stdout, messages=1)

    def _poll_cec_ctl(self, path: str, address: int) -> bool | None:
        result = self._run([path, "-d", self.settings.device, "-s", "-t", str(address), "--poll"])
        problem = self._problem(result, self.settings.timeout_s)
        if problem:
            logger.warning("cec: polling %s failed: %s", la_name(address), problem)
            return None
        return cec_ctl_transmit_ok(result.stdout, messages=1)[0]

    # -- cec-client -------------------------------------------------------------------------------------
    def _cec_client_argv(self, path: str) -> list[str]:
        # -s first: cec-client only stays quiet about later options once it knows it is in single mode.
        return [path, "-s", "-d", "1", "-t", "p", "-o", self.settings.osd_name]

    def _cec_client_tx(self, path: str, line: str) -> str:
        """Send one `tx ...` line through cec-client; '' when it went out, else what went wrong (one line)."""
        result = self._run(self._cec_client_argv(path), input_text=line + "\n")
        problem = self._problem(result, self.settings.timeout_s)
        if not problem:
            errors = [x.strip() for x in result.stdout.splitlines() if x.strip().startswith("ERROR:")]
            if errors:
                problem = printable(errors[-1])
        return f"{line!r}: {problem}" if problem else ""

    def _send_cec_client(self, path: str, target: int, code: int) -> tuple[bool, str]:
        head = f"{CEC_CLIENT_SOURCE:X}{target:X}"
        for line in (f"tx {head}:{OPCODE_USER_CONTROL_PRESSED:02X}:{code:02X}",
                     f"tx {head}:{OPCODE_USER_CONTROL_RELEASED:02X}"):
            problem = self._cec_client_tx(path, line)
            if problem:
                return False, problem
        return True, ""

    def _osd_cec_client(self, path: str, text: str) -> tuple[bool, str]:
        payload = ":".join(f"{byte:02X}" for byte in text.encode("ascii"))
        problem = self._cec_client_tx(
            path, f"tx {CEC_CLIENT_SOURCE:X}{TV:X}:{OPCODE_SET_OSD_STRING:02X}:{OSD_DISPLAY_DEFAULT:02X}:{payload}")
        return (False, problem) if problem else (True, "")

    def _poll_cec_client(self, path: str, address: int) -> bool | None:
        result = self._run(self._cec_client_argv(path), input_text=f"poll {address}\n")
        problem = self._problem(result, self.settings.timeout_s)
        if problem:
            logger.warning("cec: polling %s with cec-client failed: %s", la_name(address), problem)
            return None
        return "POLL message sent" in result.stdout

    # -- targets ----------------------------------------------------------------------------------------
    def _detect_audio(self, kind: str, path: str) -> None:
        present = self._poll_cec_ctl(path, AUDIO_SYSTEM) if kind == "cec-ctl" else \
            self._poll_cec_client(path, AUDIO_SYSTEM)
        self._audio_checked_at = self._clock()
        if present is None:
            return  # keep what we knew
        if present != self._audio_present:
            logger.info("cec: %s", "audio system (5) present: volume goes to it" if present
                        else "no audio system (5): volume goes to the TV (0)")
        self._audio_present = present

    def _target(self, action: str, kind: str, path: str) -> int:
        if action not in VOLUME_ACTIONS:
            return self.settings.play_target
        if self.settings.volume_target == "tv":
            return TV
        if self.settings.volume_target == "audio":
            return AUDIO_SYSTEM
        stale = self._audio_checked_at is None or self._clock() - self._audio_checked_at >= self.audio_recheck_s
        if stale:
            self._detect_audio(kind, path)
        return AUDIO_SYSTEM if self._audio_present else TV

    # -- accounting -------------------------------------------------------------------------------------
    def _drop(self, action: str, gesture: str, why: str) -> None:
        self.counters["dropped"] += 1
        logger.warning("cec: dropped %s (%s): %s", action, gesture, why)

    def _fail(self, action: str, gesture: str, why: str) -> None:
        self.counters["failed"] += 1
        logger.warning("cec: %s (%s) failed: %s", action, gesture, why)
