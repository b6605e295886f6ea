"""Speak sink: a spoken word per gesture (espeak-ng), so the user hears that the gesture was understood.

Per action, one call through `edge.sinks.proc.run_bounded`, the text on stdin (never in argv):
    espeak-ng -v VOICE -s SPEED_WPM -a AMPLITUDE [-d DEVICE] --stdin
espeak-ng returns when the phrase has been played on the default audio output (or `SpeakSettings.device`);
on a Raspberry Pi that is the TV's speakers over HDMI when HDMI is the default output. The text per action is
`SPEECH_TEXTS` overlaid with `SpeakSettings.texts` ('' keeps an action silent). Only the first event of a
held gesture is spoken: auto-repeats (volume) come every half second, faster than a phrase is spoken.

espeak-ng exits 0 even when it cannot open the audio device; it then prints `error: ...` on stderr, which
counts as a failure here. `wav_dir` (for tests and for checking a voice without speakers) writes each phrase
to `NNNN-ACTION.wav` there (espeak-ng -w) instead of playing it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from edge.events import GestureEvent
from edge.settings import SPEECH_TEXTS, SpeakSettings
from edge.sinks.base import new_counters, printable
from edge.sinks.proc import last_line, run_bounded

logger = logging.getLogger(__name__)

TOOL = "espeak-ng"
INSTALL_HINT = "sudo apt install espeak-ng"


class SpeakSink:
    """Says a short text per action with espeak-ng."""

    name = "speak"

    def __init__(self, settings: SpeakSettings, *, wav_dir: str | Path | None = None) -> None:
        self.settings = settings
        self.counters = new_counters()
        self.texts = {**SPEECH_TEXTS, **settings.texts}
        """action -> the text said for it ('' or missing: nothing)."""
        self.wav_dir = Path(wav_dir) if wav_dir is not None else None
        self._spoken = 0
        self._silent_logged: set[str] = set()

    def start(self) -> None:
        """Say at start-up when espeak-ng is missing, rather than only at the first gesture."""
        if shutil.which(TOOL) is None:
            logger.warning("speak: %s not found on PATH (%s): every action will be dropped", TOOL, INSTALL_HINT)

    def argv(self, tool: str, wav_path: Path | None = None) -> list[str]:
        """The espeak-ng command line for the settings (the text goes to its stdin)."""
        s = self.settings
        argv = [tool, "-v", s.voice, "-s", str(s.speed_wpm), "-a", str(s.amplitude)]
        if wav_path is not None:
            argv += ["-w", str(wav_path)]
        elif s.device:
            argv += ["-d", s.device]
        return argv + ["--stdin"]

    def handle(self, event: GestureEvent) -> None:
        """Say the text for `event.action`; never raises for espeak-ng or audio problems."""
        action, gesture = event.action, printable(event.gesture)
        if event.repeat:
            self.counters["dropped"] += 1
            logger.debug("speak: %s (%s) is auto-repeat %d of a held gesture: not spoken", action, gesture,
                         event.repeat)
            return
        text = self.texts.get(action, "")
        if not text:
            self.counters["dropped"] += 1
            if action not in self._silent_logged:
                self._silent_logged.add(action)
                logger.info("speak: no text for %s (%s): nothing said (logged once per action)", action, gesture)
            return
        tool = shutil.which(TOOL)
        if tool is None:
            self.counters["dropped"] += 1
            logger.warning("speak: dropped %s (%s): %s not found on PATH (%s)", action, gesture, TOOL, INSTALL_HINT)
            return
        wav_path = None
        if self.wav_dir is not None:
            wav_path = self.wav_dir / f"{self._spoken:04d}-{action}.wav"
        self._spoken += 1
        result = run_bounded(self.argv(tool, wav_path), self.settings.timeout_s, input_text=text)
        errors = [line.strip() for line in result.stderr.splitlines() if line.strip().lower().startswith("error")]
        if result.error:
            problem = f"cannot run {TOOL}: {result.error}"
        elif result.timed_out:
            problem = f"still speaking after {self.settings.timeout_s:g} s: killed"
        elif result.returncode != 0:
            problem = f"exit status {result.returncode}: {last_line(result.stderr) or 'no output'}"
        elif errors:
            problem = f"{errors[-1]} (audio device {self.settings.device or 'default'!r})"
        else:
            self.counters["sent"] += 1
            logger.info("speak: %s (%s) -> %r", action, gesture, text)
            return
        self.counters["failed"] += 1
        logger.warning("speak: %s (%s) failed: %s", action, gesture, printable(problem))

    def close(self) -> None:
        """Nothing to release."""
