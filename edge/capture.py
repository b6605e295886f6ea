"""`gesture-edge capture`: record clips (in the case-study layout), background footage and prompted gesture
streams in the real room.

Calibrating the int8 models on frames from the room, camera and light they will run in (`gesture-convert
--calib DIR`) is the cheapest accuracy win there is; labelled clips can also be used to fine-tune. Each
clip is `frames` frames over `duration_s` (default 30 over 2.0 s: the case-study clips), paced like the
runtime paces the camera, written as JPEGs:

    OUT/train/clip_00001/00001.jpg ... 00030.jpg
    OUT/train.csv                     clip_00001;Swipe;0       (labelled clips only: folder;label_name;index)

Labels (case-insensitive, a trailing `_new` ignored): Swipe (0), Left Swipe (0), Right Swipe (1), Stop (2),
Thumbs Down (3), Thumbs Up (4), No gesture (5) -- the case-study indexes (5 is our background extension).
With several --label, `--clips N` clips of each are recorded in turns (Swipe, Stop, Swipe, Stop, ...).
Without --label the clips are unlabelled (calibration needs no labels): they are written under OUT/train/
and not listed in train.csv; calibrate with `--calib OUT/train`.

A countdown on stderr precedes each clip (no input needed, so it works over ssh or in a script); from a
live camera the frames of the countdown are read and discarded, so a clip never starts with stale frames.
Running again with the same OUT adds clips after the existing ones. Every clip folder and train.csv is
written to a temp name first and renamed: an interrupted session leaves only complete clips.

`--background --minutes M` records M minutes of unlabelled background footage instead: the room as it is,
people moving, no gestures. It is what hard negatives are mined from (`gesture-train --negatives`) and what
false actions per hour are measured on (`gesture-bench events`, `gesture-bench tune --background`):

    OUT/background/20250101-201500.mp4         MP4 (mp4v) at frames / duration-s fps (default 15), --size
    OUT/background/20250101-201500.truth.json  {"events": []}: background-only ground truth for gesture-bench

A video rather than frames: an hour is one file of tens of MB, and every reader paces it to its model's
frame rate from its timestamps. Stopped early (Ctrl-C, or footage that ends) it keeps what was recorded,
closed and renamed into place, and exits 1.

`--stream --minutes M` records M minutes of prompted gestures with their ground truth, what `gesture-bench
tune --gestures` and `gesture-bench events` score the runtime on:

    OUT/streams/20250101-203000.mp4         one continuous video, written like the background footage
    OUT/streams/20250101-203000.truth.json  the prompted gestures: {"gesture", "start_s", "end_s"} each

After a random gap (`--gap-s MIN,MAX`, default 3-6 s, seeded by `--seed`, which the truth records), stderr
says "<gesture> in 2... 1..." and then "now: <gesture>": the window it opens lasts one clip's span
(`--duration-s`, 2 s; --frames / --duration-s is the frame rate, as for clips), and the person performs the
gesture inside it. The gestures come from --label in turns, or by default the four gestures in a fresh
random order every round of four (balanced, like `gesture-synth stream`); "No gesture" is not prompted (that
is what --background records). The schedule runs on the frames' own times, not the wall clock, so footage
gives the same prompts at the same places as a live camera would; the truth gives each window as the
recorded video's times (frame index / fps: what every reader of the file sees). A window is in the truth only
when it completed: stopped early (exit 1), the video keeps every frame but the truth drops a window cut short;
with no window completed nothing is kept (a truth without gestures would read as background footage).
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np

from edge.fileio import atomic_dir, atomic_path, write_text_atomic
from edge.metrics import DEFAULT_MAX_LAG_S
from edge.sources import Frame, FrameSource, SourceError, SourceOptions, open_source
from edge.vocab import BACKGROUND, CASESTUDY_CLASSES, CASESTUDY_LABELS, GESTURES

logger = logging.getLogger(__name__)

LABELS = {"swipe": ("Swipe", 0),
          **{name.removesuffix("_new").lower(): (name, index) for index, name in CASESTUDY_LABELS.items()}}
"""Accepted label (lower case) -> (label name written to train.csv, case-study label index): 'swipe' and the
case-study names ('left swipe' -> 'Left Swipe_new', 0; ...; 'no gesture' -> 'No gesture', 5)."""
CLIP_PREFIX = "clip_"
JPEG_QUALITY = 95
BACKGROUND_DIR = "background"
"""Background footage goes to OUT/background/ (gesture-train --negatives OUT finds it there)."""
STREAMS_DIR = "streams"
"""Prompted gesture streams go to OUT/streams/ (never mined as negatives: gesture-train reads OUT/background)."""
DEMO_INIT = "models/demo/model.keras"
"""The bundled model a room's model is fine-tuned from (the closing hint's --init)."""
DEFAULT_GAP_S = (3.0, 6.0)
"""Seconds between one prompt window's end (or the recording's start) and the next one's start."""
PROMPT_COUNTDOWN_S = 2.0
"""'<gesture> in 2... 1...' before each window, inside the gap: time to get the hand ready."""
FRAME_TIME_TOLERANCE_S = 0.001
"""A frame this close before a prompt's time counts as at it (decoders round footage times to milliseconds)."""
SLOW_SOURCE_RATIO = 1.1
"""A stream whose frames span this much more time than frames / fps says so (a camera slower than the pace)."""
STREAM_TAIL_S = DEFAULT_MAX_LAG_S
"""Footage kept after the last window: the runtime may act on a gesture this long after it ends, and the
scorers count an event that late for it."""


class CaptureError(Exception):
    """A capture that cannot be done. The message is one line."""


@dataclass(frozen=True)
class CaptureSettings:
    """Everything `gesture-edge capture` needs."""

    source: str
    """Frame source spec (see edge.sources)."""
    out: Path
    """Dataset root (created if missing; clips are added after existing ones)."""
    clips: int = 0
    """Clips per label (or in total, without labels); 0 with background_s or stream_s."""
    labels: tuple[str, ...] = ()
    """Labels as typed; empty: unlabelled clips (with stream_s: the four gestures, shuffled and balanced)."""
    frames: int = 30
    duration_s: float = 2.0
    """Each clip (and each prompt window of a stream) spans this long: frames are paced to frames / duration_s
    per second."""
    countdown_s: float = 3.0
    """Seconds of countdown before each clip (0: none)."""
    size_hw: tuple[int, int] = (120, 160)
    """Saved frame size (the whole camera frame, resized with INTER_AREA like everywhere)."""
    folder_fps: float | None = None
    retry_max_s: float = 30.0
    background_s: float | None = None
    """Record this many seconds of unlabelled background footage (OUT/background/*.mp4) instead of clips."""
    stream_s: float | None = None
    """Record this many seconds of prompted gestures with ground truth (OUT/streams/*.mp4) instead of clips."""
    gap_s: tuple[float, float] = DEFAULT_GAP_S
    """A stream's gaps between prompt windows: uniform in MIN..MAX seconds."""
    seed: int | None = None
    """Seed of a stream's gaps and gesture order (None: a fresh one, written to the truth)."""


@dataclass(frozen=True)
class Prompt:
    """One prompted gesture of a stream, in stream seconds (from its first recorded frame)."""

    shown: str
    """What the prompt says ('Left Swipe')."""
    gesture: str
    """The model class the truth names ('Swipe')."""
    start_s: float
    end_s: float


def prompt_plan(choices: Sequence[tuple[str, str]], total_s: float, window_s: float, gap_s: tuple[float, float],
                seed: int, shuffle: bool) -> list[Prompt]:
    """The prompts of a `total_s` stream: each (shown, gesture) choice in turns, or with `shuffle` in a fresh
    random order every round (each round has every choice once, like gesture-synth's streams).

    Each window of `window_s` starts a gap drawn uniformly from `gap_s` after the previous one's end (the first
    after the start); the last ends at least STREAM_TAIL_S before `total_s`. The same seed gives the same plan.
    """
    rng = np.random.default_rng(seed)
    plan: list[Prompt] = []
    queue: list[tuple[str, str]] = []
    t = 0.0
    while True:
        start_s = t + float(rng.uniform(*gap_s))
        end_s = start_s + window_s
        if end_s + STREAM_TAIL_S > total_s:
            return plan
        if not queue:
            queue = [choices[i] for i in rng.permutation(len(choices))] if shuffle else list(choices)
        shown, gesture = queue.pop(0)
        plan.append(Prompt(shown, gesture, start_s, end_s))
        t = end_s


def parse_label(text: str) -> tuple[str, int]:
    """A label as typed -> (name for train.csv, case-study index); CaptureError when unknown."""
    key = re.sub(r"_new$", "", text.strip(), flags=re.IGNORECASE).strip().lower()
    key = re.sub(r"\s+", " ", key)
    if key not in LABELS:
        known = ", ".join(sorted({name.replace("_new", "") for name, _ in LABELS.values()} | {"Swipe"}))
        raise CaptureError(f"--label {text!r}: unknown label (expected one of: {known})")
    return LABELS[key]


def _existing_numbers(train_dir: Path) -> list[int]:
    numbers = []
    if train_dir.is_dir():
        for path in train_dir.iterdir():
            match = re.fullmatch(rf"{CLIP_PREFIX}(\d+)", path.name)
            if match and path.is_dir():
                numbers.append(int(match.group(1)))
    return numbers


def _write_clip(train_dir: Path, folder: str, frames: list[np.ndarray]) -> Path:
    """Write RGB frames as 00001.jpg... into train_dir/folder through a temp folder + rename."""
    final = train_dir / folder
    with atomic_dir(final) as temp:
        for number, rgb in enumerate(frames, start=1):
            path = temp / f"{number:05d}.jpg"
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise CaptureError(f"{path}: cannot write the JPEG")
    return final


class Capture:
    """One capture session (see the module docstring)."""

    def __init__(self, settings: CaptureSettings, *, source: FrameSource | None = None,
                 prompt: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.s = settings
        if settings.background_s is not None and settings.stream_s is not None:
            raise CaptureError("--stream: not with --background (one video per session: gestures or none)")
        if settings.stream_s is not None:
            if not (settings.stream_s > 0 and math.isfinite(settings.stream_s)):
                raise CaptureError(f"--minutes {settings.stream_s / 60:g}: expected a number > 0")
            if settings.clips:
                raise CaptureError("--clips: not with --stream (it records one video of --minutes)")
            low, high = settings.gap_s
            if not (0 < low <= high and math.isfinite(high)):
                raise CaptureError(f"--gap-s {low:g},{high:g}: expected MIN,MAX seconds with 0 < MIN <= MAX")
        elif settings.background_s is not None:
            if not (settings.background_s > 0 and math.isfinite(settings.background_s)):
                raise CaptureError(f"--minutes {settings.background_s / 60:g}: expected a number > 0")
            if settings.labels:
                raise CaptureError("--label: not with --background (background footage is unlabelled: the room "
                                   "as it is, no gestures)")
            if settings.clips:
                raise CaptureError("--clips: not with --background (it records one video of --minutes)")
        elif settings.clips == 0:
            raise CaptureError("--clips N: required (clips per label, in total without --label), or --background "
                               "--minutes M to record background footage")
        elif settings.clips < 1:
            raise CaptureError(f"--clips {settings.clips}: expected at least 1")
        if settings.frames < 1:
            raise CaptureError(f"--frames {settings.frames}: expected at least 1")
        if not (settings.duration_s > 0 and math.isfinite(settings.duration_s)):
            raise CaptureError(f"--duration-s {settings.duration_s}: expected a number > 0")
        if settings.countdown_s < 0:
            raise CaptureError(f"--countdown-s {settings.countdown_s}: expected a number >= 0")
        self.labels = [parse_label(label) for label in settings.labels]
        self.fps = settings.frames / settings.duration_s
        self.seed = settings.seed
        self.plan: list[Prompt] = []
        if settings.stream_s is not None:
            self.seed, self.plan = self._stream_plan(settings.stream_s)
        self._source = source
        self._prompt = prompt
        self._clock = clock
        self.stop_requested = False
        self._sleep = sleep or self._interruptible_sleep
        self.written: list[Path] = []

    def _stream_plan(self, total_s: float) -> tuple[int, list[Prompt]]:
        """The seed and the prompts of a stream of `total_s`; CaptureError when no prompt fits or a label is
        not a gesture."""
        for (_name, index), typed in zip(self.labels, self.s.labels):
            if CASESTUDY_CLASSES[index] == BACKGROUND:
                raise CaptureError(f"--label {typed!r}: not with --stream (a stream's truth lists gestures; "
                                   "record the room without gestures with --background)")
        if self.labels:
            choices = [(name.replace("_new", ""), CASESTUDY_CLASSES[index]) for name, index in self.labels]
        else:
            choices = [(gesture, gesture) for gesture in GESTURES]
        seed = self.s.seed if self.s.seed is not None else secrets.randbelow(2**31)
        plan = prompt_plan(choices, total_s, self.s.duration_s, self.s.gap_s, seed, shuffle=not self.labels)
        if not plan:
            need_s = self.s.gap_s[1] + self.s.duration_s + STREAM_TAIL_S
            raise CaptureError(f"--minutes {total_s / 60:g}: too short for a prompt (expected at least {need_s:g} s: "
                               f"the longest --gap-s, the --duration-s window and {STREAM_TAIL_S:g} s after it)")
        return seed, plan

    def _say(self, text: str) -> None:
        stream = self._prompt if self._prompt is not None else sys.stderr
        print(text, file=stream, flush=True)

    def _interruptible_sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + max(0.0, seconds)
        while not self.stop_requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.05, left))

    def _plan(self) -> list[tuple[str, int] | None]:
        if not self.labels:
            return [None] * self.s.clips
        return [label for _ in range(self.s.clips) for label in self.labels]

    def _countdown(self, source: FrameSource) -> None:
        seconds = self.s.countdown_s
        if seconds <= 0:
            return
        deadline = self._clock() + seconds
        shown = math.ceil(seconds)
        self._say(f"  {shown}...")
        while not self.stop_requested:
            left = deadline - self._clock()
            if left <= 0:
                break
            if math.ceil(left) < shown:
                shown = math.ceil(left)
                self._say(f"  {shown}...")
            if source.live:
                source.read()  # keep the camera's queue fresh; these frames are discarded
            else:
                self._sleep(min(left, 0.1))

    def _open(self) -> FrameSource:
        return self._source or open_source(self.s.source, self.s.size_hw, self.fps, False,
                                           options=SourceOptions(folder_fps=self.s.folder_fps),
                                           retry_max_s=self.s.retry_max_s, clock=self._clock,
                                           sleep=self._sleep, should_stop=lambda: self.stop_requested)

    def _train_hint(self) -> str:
        """The gesture-train command line for this dataset (with its background footage, when there is some)."""
        background = self.s.out / BACKGROUND_DIR
        negatives = f" --negatives {background}" if background.is_dir() and any(background.glob("*.mp4")) else ""
        return (f"gesture-train --data {self.s.out} --init {DEMO_INIT}{negatives} --out runs/my-room "
                f"(docs/IN_ROOM.md)")

    def run(self) -> int:
        """Record the clips (or the background footage, or the gesture stream); 0 when complete, 1 when the
        source ended or a stop came first."""
        if self.s.background_s is not None:
            return self._run_background()
        if self.s.stream_s is not None:
            return self._run_stream()
        train_dir = self.s.out / "train"
        try:
            train_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaptureError(f"{self.s.out}: cannot create the output folder ({exc.strerror or exc})") from None
        csv_path = self.s.out / "train.csv"
        lines = csv_path.read_text(encoding="utf-8").splitlines() if csv_path.is_file() else []
        lines = [line for line in lines if line.strip()]
        number = max(_existing_numbers(train_dir), default=0)
        source = self._open()
        plan = self._plan()
        try:
            for k, label in enumerate(plan, start=1):
                what = label[0].replace("_new", "") if label else "any movement (unlabelled)"
                self._say(f"clip {k}/{len(plan)}: {what} -- {self.s.frames} frames over {self.s.duration_s:g} s")
                self._countdown(source)
                if self.stop_requested:
                    break
                self._say("  go!")
                frames: list[np.ndarray] = []
                while len(frames) < self.s.frames and not self.stop_requested:
                    frame = source.read()
                    if frame is None:
                        break
                    frames.append(frame.rgb)
                if len(frames) < self.s.frames:
                    if not self.stop_requested:
                        self._say(f"  the source ended after {len(frames)} of {self.s.frames} frames: clip dropped")
                    break
                number += 1
                folder = f"{CLIP_PREFIX}{number:05d}"
                path = _write_clip(train_dir, folder, frames)
                self.written.append(path)
                if label is not None:
                    lines.append(f"{folder};{label[0]};{label[1]}")
                    write_text_atomic(csv_path, "\n".join(lines) + "\n")
                self._say(f"  saved {path}")
        finally:
            source.close()
        done = len(self.written)
        calib = self.s.out if self.labels else train_dir
        self._say(f"{done} of {len(plan)} clips written to {train_dir}; calibrate with: "
                  f"gesture-convert MODEL --calib {calib}")
        if self.labels:
            self._say(f"train a model for this room with: {self._train_hint()}")
        else:
            self._say("to train, record labelled clips (--label NAME, every gesture and 'No gesture')")
        return 0 if done == len(plan) else 1

    def _new_name(self, folder: Path) -> str:
        """A timestamp name not yet taken in `folder` (by a video or a truth file)."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name, n = stamp, 1
        while (folder / f"{name}.mp4").exists() or (folder / f"{name}.truth.json").exists():
            n += 1
            name = f"{stamp}-{n}"
        return name

    def _record_video(self, subdir: str, seconds: float, what: str, intro: str,
                      on_frame: Callable[[Frame, int], None] | None = None,
                      discard: Callable[[], str | None] | None = None) -> _Recording | None:
        """Record `seconds` of the source into OUT/subdir/NAME.mp4 (mp4v at the capture's fps, --size) through a
        temp file renamed into place, also when stopped early; None (nothing written) when no frame came or
        `discard()` gives a reason to keep nothing.

        `on_frame(frame, k)` sees every frame once written (k: its index in the video); without it, progress
        lines mark every tenth of the way.
        """
        folder = self.s.out / subdir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaptureError(f"{folder}: cannot create the folder ({exc.strerror or exc})") from None
        name = self._new_name(folder)
        video = folder / f"{name}.mp4"
        planned = max(1, round(seconds * self.fps))
        height, width = self.s.size_hw
        source = self._open()
        count = 0
        try:
            self._say(f"{what}: {_span(seconds)} ({planned} frames at {self.fps:g} fps) -- {intro}")
            self._countdown(source)
            if not self.stop_requested:
                self._say("  recording")
            step = max(1, planned // 10)
            with atomic_path(video, ".tmp.mp4") as tmp:  # the suffix picks OpenCV's container
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]  # missing from OpenCV's stubs
                writer = cv2.VideoWriter(str(tmp), fourcc, self.fps, (width, height))
                if not writer.isOpened():
                    raise CaptureError(f"{video}: OpenCV cannot write MP4 (fourcc mp4v) here")
                try:
                    while count < planned and not self.stop_requested:
                        frame = source.read()
                        if frame is None:
                            break
                        writer.write(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
                        count += 1
                        if on_frame is not None:
                            on_frame(frame, count - 1)
                        elif count % step == 0 and count < planned:
                            self._say(f"  {_span(count / self.fps)} of {_span(seconds)} ({100 * count // planned}%)")
                finally:
                    writer.release()
                if count == 0:
                    raise _NothingRecorded("no frames recorded")
                reason = discard() if discard is not None else None
                if reason:
                    raise _NothingRecorded(reason)
        except _NothingRecorded as exc:
            self._say(f"{exc}: nothing written to {folder}")
            return None
        finally:
            source.close()
        if count < planned and not self.stop_requested:
            self._say(f"  the source ended after {count} of {planned} frames")
        self.written.append(video)
        return _Recording(video, name, count, planned)

    def _write_truth(self, recording: _Recording, events: list[dict[str, Any]], mode: str,
                     seed: int | None = None) -> Path:
        """NAME.truth.json beside the video, in gesture-synth's format (edge.metrics.load_truth reads it)."""
        truth: dict[str, Any] = {"video": recording.video.name, "fps": self.fps, "frames": recording.count,
                                 "duration_s": round(recording.count / self.fps, 6)}
        if seed is not None:
            truth["seed"] = seed
        truth.update({"events": events, "source": f"gesture-edge capture {mode}", "input": self.s.source,
                      "recorded": recording.name})
        path = recording.video.with_name(f"{recording.name}.truth.json")
        write_text_atomic(path, json.dumps(truth, indent=1) + "\n")
        return path

    def _footage_glob(self, subdir: str) -> str | None:
        """'OUT/subdir/*.mp4' (shell-quoted folder) when that folder holds footage, else None."""
        folder = self.s.out / subdir
        return f"{shlex.quote(str(folder))}/*.mp4" if folder.is_dir() and any(folder.glob("*.mp4")) else None

    def _tune_hint(self) -> str:
        """The gesture-bench tune command line for the gesture streams and background footage in OUT."""
        streams = self._footage_glob(STREAMS_DIR) or "STREAM.mp4..."
        background = self._footage_glob(BACKGROUND_DIR)
        missing = "" if background else (" (no background footage in this folder yet: record some with --background "
                                         "--minutes 30)")
        return (f"gesture-bench tune --bundle BUNDLE --gestures {streams} --background {background or 'FOOTAGE.mp4...'}"
                f" --max-false-per-hour 1 --save-to-bundle{missing}")

    def _run_background(self) -> int:
        """Record background_s of footage into OUT/background/NAME.mp4 + NAME.truth.json (no events)."""
        assert self.s.background_s is not None
        recording = self._record_video(BACKGROUND_DIR, self.s.background_s, "background footage",
                                       "the room as it is, people moving about, NO gestures")
        if recording is None:
            return 1
        self._write_truth(recording, [], "--background")
        count, folder = recording.count, recording.video.parent
        self._say(f"{_span(count / self.fps)} of background ({count} frames) written to {recording.video}")
        self._say(f"mine hard negatives from it: {self._train_hint()}")
        self._say(f"count false actions on it: gesture-bench events --bundle BUNDLE {folder}/*.mp4")
        if self._footage_glob(STREAMS_DIR):
            self._say(f"tune the decisions: {self._tune_hint()}")
        return 0 if count == recording.planned else 1

    def _run_stream(self) -> int:
        """Record stream_s of prompted gestures into OUT/streams/NAME.mp4 + NAME.truth.json (completed windows)."""
        assert self.s.stream_s is not None
        prompter = _Prompter(self.plan, self.fps, self._say)
        recording = self._record_video(
            STREAMS_DIR, self.s.stream_s, "gesture stream",
            f"{len(self.plan)} prompts (seed {self.seed}): do the gesture when it says 'now: ...', within "
            f"{self.s.duration_s:g} s; in between, the room as usual", prompter.on_frame,
            # Without a completed window the truth would list no gesture: readers would take it for background.
            lambda: None if prompter.events else "no prompt completed")
        if recording is None:
            return 1
        if prompter.open_at is not None:
            self._say(f"  the recording ended during the prompt for {self.plan[prompter.next].shown}: left out of "
                      "the truth")
        events = prompter.events
        truth = self._write_truth(recording, events, "--stream", self.seed)
        count = recording.count
        if count > 1 and prompter.last_t_s > SLOW_SOURCE_RATIO * (count - 1) / self.fps:
            self._say(f"  note: the source gave {count} frames over {prompter.last_t_s:.1f} s, fewer than "
                      f"{self.fps:g} a second: the video plays faster than life (the truth is in its time, so it "
                      "still lines up; a slow camera, or --size too large for it?)")
        self._say(f"{len(events)} of {len(self.plan)} prompted gestures, {_span(count / self.fps)} ({count} frames), "
                  f"written to {recording.video} (ground truth: {truth.name})")
        if len(events) < 2:
            self._say("  gesture-bench tune splits every stream in two halves, and both need gestures: record longer")
        self._say(f"score a bundle on it: gesture-bench events --bundle BUNDLE {recording.video}")
        self._say(f"tune the decisions: {self._tune_hint()}")
        return 0 if count == recording.planned else 1


class _Prompter:
    """Walks a stream's plan along the recorded frames: says each countdown and prompt when the frames' own
    times reach it, and keeps each completed window as a truth event in video time (frame index / fps)."""

    def __init__(self, plan: Sequence[Prompt], fps: float, say: Callable[[str], None]) -> None:
        self.plan = plan
        self.fps = fps
        self._say = say
        self._t0_s: float | None = None
        self._ticked: int | None = None
        self.last_t_s = 0.0
        """Stream time of the last frame seen."""
        self.next = 0
        """Index of the prompt being counted down to or open."""
        self.open_at: int | None = None
        """Video frame at which the current window opened (None: none open)."""
        self.events: list[dict[str, Any]] = []

    def on_frame(self, frame: Frame, index: int) -> None:
        """Advance the prompts to this frame (the `index`-th of the video)."""
        if self._t0_s is None:
            self._t0_s = frame.t_s
        self.last_t_s = frame.t_s - self._t0_s
        t_s = self.last_t_s + FRAME_TIME_TOLERANCE_S
        while self.next < len(self.plan):
            prompt = self.plan[self.next]
            if self.open_at is None:
                if t_s < prompt.start_s:
                    self._count_down(prompt, t_s)
                    return
                self.open_at = index
                self._say(f"  now: {prompt.shown}")
            if t_s < prompt.end_s:
                return
            if index > self.open_at:
                self.events.append({"gesture": prompt.gesture, "start_s": round(self.open_at / self.fps, 3),
                                    "end_s": round(index / self.fps, 3)})
                self._say(f"  done ({len(self.events)} of {len(self.plan)})")
            else:  # the camera stalled over the whole window: the video has no frame of it
                self._say(f"  no frame came during the prompt for {prompt.shown}: left out of the truth")
            self.next += 1
            self.open_at = None
            self._ticked = None

    def _count_down(self, prompt: Prompt, t_s: float) -> None:
        left_s = prompt.start_s - t_s
        if left_s > PROMPT_COUNTDOWN_S:
            return
        tick = math.ceil(left_s)
        if tick != self._ticked:
            self._say(f"  {prompt.shown} in {tick}..." if self._ticked is None else f"  {tick}...")
            self._ticked = tick


@dataclass(frozen=True)
class _Recording:
    """A video written by `Capture._record_video`."""

    video: Path
    name: str
    count: int
    """Frames written."""
    planned: int
    """Frames asked for (more than `count` when stopped early)."""


def _span(seconds: float) -> str:
    """'45 s' or '12.5 min' for progress lines."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class _NothingRecorded(Exception):
    """Nothing to keep (the message says why): the temp video is removed (atomic_path), nothing is written."""


def run_capture(settings: CaptureSettings) -> int:
    """Run a capture session with SIGINT/SIGTERM stopping it after the current frame (exit 1)."""
    capture = Capture(settings)
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        def stop(_signum: int, _frame: Any) -> None:
            capture.stop_requested = True

        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, stop)
    try:
        return capture.run()
    except SourceError as exc:
        raise CaptureError(str(exc)) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
