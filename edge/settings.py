"""Typed, frozen settings for the edge runtime, each config key declared once, on its field.

Every field says how the TOML config file sets it (`edge.validate.checked`: the check with its type and
bounds, and the key when it is not the field's name; `section`: a sub-table). `edge.config` walks these
fields to read a file, so a new setting is one edit here. The CLI overlays its flags; the runtime only ever
sees these objects. Defaults here are the documented defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from edge.validate import (Boolean, Integer, Number, OneOf, PrintableAscii, String, StringList, Table, checked,
                           computed, read_fields, section)
from edge.vocab import ACTIONS, LOG_LEVELS, PRECISIONS, REPEAT_GESTURES

BACKENDS = ("auto", "ai_edge_litert", "tflite_runtime", "tensorflow")
SINKS = ("log", "mpris", "cec", "command", "speak")
CEC_TOOLS = ("auto", "cec-ctl", "cec-client")
VOLUME_TARGETS = ("auto", "tv", "audio")
OSD_NAME_MAX_CHARS = 14
"""CEC <Set OSD Name> carries at most 14 ASCII characters."""
OSD_TEXT = String(pattern=r"[ -+\--~]{0,13}", what="0 to 13 printable ASCII characters and no comma (a CEC OSD "
                  "string; cec-ctl splits its arguments at commas)")
"""CEC <Set OSD String> carries at most 13 ASCII characters; '' shows nothing for that action."""
OSD_TEXTS = {"play": "Play", "pause": "Pause", "play_pause": "Play/Pause", "stop": "Stop", "next": "Next",
             "previous": "Previous", "volume_up": "Volume +", "volume_down": "Volume -", "mute": "Mute"}
"""The TV's on-screen text per action; `sinks.cec.osd_texts` overrides single actions."""
SPEECH_TEXT = String(pattern=r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]{0,100}",
                     what="at most 100 characters and no control characters")
SPEECH_TEXTS = {"play": "play", "pause": "pause", "play_pause": "play pause", "stop": "stop", "next": "next",
                "previous": "previous", "volume_up": "volume up", "volume_down": "volume down", "mute": "mute"}
"""What the speak sink says per action; `sinks.speak.texts` overrides single actions."""

CAM_SOURCE_RE = re.compile(r"cam:(\d+)")
DEV_SOURCE_RE = re.compile(r"/dev/video(\d+)")
PICAMERA2_SOURCE = "picamera2"
DEFAULT_SOURCE = PICAMERA2_SOURCE
"""The camera module of a Raspberry Pi (the docs' default; a USB webcam is `cam:0`)."""


def is_camera_source(spec: str) -> bool:
    """True for a camera source spec (picamera2, cam:N, /dev/videoN); anything else names a file or folder."""
    return spec == PICAMERA2_SOURCE or bool(CAM_SOURCE_RE.fullmatch(spec) or DEV_SOURCE_RE.fullmatch(spec))


THRESHOLD = Number(0, 1, lo_open=True)
"""A gesture's minimum window probability (the global one and each per-gesture override)."""


@dataclass(frozen=True)
class RuntimeSettings:
    bundle: str = checked(String(), default="")
    """Bundle folder made by gesture-convert (manifest.json, features.tflite, step.tflite); a relative path in a
    config file is relative to the file's folder."""
    source: str = checked(String(non_empty=True), default=DEFAULT_SOURCE)
    """picamera2 | cam:N | /dev/videoN | a video file | a folder of frames (a relative path in a config file is
    relative to the file's folder)."""
    backend: str = checked(OneOf(BACKENDS), default="auto")
    """TFLite runtime: auto tries ai_edge_litert, then tflite_runtime, then tensorflow.lite."""
    num_threads: int = checked(Integer(1, 16), default=2)
    """Interpreter threads per model (1..16)."""
    hop_frames: int = checked(Integer(1, 64), default=2)
    """A new recurrent state starts every `hop_frames` model frames (1..frames_per_clip)."""
    realtime: bool = checked(Boolean(), default=False)
    """Play a video file at its own speed instead of as fast as possible."""
    status_interval_s: float = checked(Number(0, 3600, lo_open=True), default=10.0)
    """Seconds between status lines in the log (and STATUS= to systemd)."""
    camera_retry_max_s: float = checked(Number(0, 3600, lo_open=True), default=30.0)
    """Upper bound of the back-off between attempts to reopen a camera."""
    precision: str = checked(OneOf(PRECISIONS), default="int8")
    """int8: the bundle's integer models (what a Pi runs); float: its float/ references, for comparisons."""


class RuntimeChanges(TypedDict, total=False):
    """Any subset of RuntimeSettings' fields, typed: `dataclasses.replace(runtime, **changes)`."""

    bundle: str
    source: str
    backend: str
    num_threads: int
    hop_frames: int
    realtime: bool
    status_interval_s: float
    camera_retry_max_s: float
    precision: str


@dataclass(frozen=True)
class DecisionSettings:
    threshold: float = checked(THRESHOLD, default=0.8)
    """Minimum window probability for a gesture, (0, 1]."""
    thresholds: dict[str, float] = checked(Table(THRESHOLD), default_factory=dict)
    """Per-gesture overrides of `threshold`."""
    smooth_windows: int = checked(Integer(1, 10), default=1)
    """The rules below see the mean probabilities of the last this many windows (1: each window as it is);
    averaging smooths out what one window alone gets wrong, quantization error included."""
    consecutive_windows: int = checked(Integer(1, 20), default=2)
    """Windows in a row whose top-1 is the same gesture above its threshold before it fires."""
    cooldown_s: float = checked(Number(0, 60), default=1.5)
    """After a gesture fires, the same gesture cannot fire again for this long."""
    refractory_s: float = checked(Number(0, 60), default=1.0)
    """After any event, no other gesture can fire for this long."""
    rearm_below: float = checked(Number(0, 1), default=0.5)
    """Hysteresis: a run that fired lasts through windows where its gesture is still the top-1 with at least
    this probability, even below its threshold; only a lower window (or another top-1) re-arms it."""
    repeat_enabled: bool = checked(Boolean(), default=False, key=("repeat", "enabled"))
    """Auto-repeat while a gesture in `repeat_gestures` stays recognised (volume)."""
    repeat_gestures: tuple[str, ...] = checked(StringList(what="gesture names"), default=REPEAT_GESTURES,
                                               key=("repeat", "gestures"))
    """Gestures that auto-repeat while held (gesture names of the bundle's labels)."""
    repeat_after_s: float = checked(Number(0, 60, lo_open=True), default=1.0, key=("repeat", "after_s"))
    """Held this long after firing, the gesture fires again..."""
    repeat_every_s: float = checked(Number(0, 60, lo_open=True), default=0.5, key=("repeat", "every_s"))
    """...and then again every this many seconds..."""
    repeat_max: int = checked(Integer(0, 50), default=5, key=("repeat", "max"))
    """...at most this many extra times per hold."""


@dataclass(frozen=True)
class MprisSettings:
    player: str = checked(String(), default="")
    """Bus name or prefix to control ('mpv', 'org.mpris.MediaPlayer2.vlc'); empty: the Playing one."""
    volume_step: float = checked(Number(0, 0.5, lo_open=True), default=0.05)
    """Volume change per volume_up/volume_down, in MPRIS units (0..1)."""
    timeout_s: float = checked(Number(0, 30, lo_open=True), default=1.0)
    """Bound on every D-Bus call."""
    resume_window_s: float = checked(Number(0, 86400), default=600.0)
    """A play within this long after we paused a player resumes that one (0: no such preference)."""


@dataclass(frozen=True)
class CecSettings:
    device: str = checked(String(non_empty=True), default="/dev/cec0")
    tool: str = checked(OneOf(CEC_TOOLS), default="auto")
    """auto (cec-ctl, else cec-client) | cec-ctl | cec-client."""
    osd_name: str = checked(PrintableAscii(OSD_NAME_MAX_CHARS), default="gesture-edge")
    play_target: int = checked(Integer(0, 15), default=0)
    """Logical address that gets play/pause/stop/next/previous (0 = TV)."""
    volume_target: str = checked(OneOf(VOLUME_TARGETS), default="auto")
    """auto (audio system 5 if present, else TV 0) | tv | audio."""
    timeout_s: float = checked(Number(0, 30, lo_open=True), default=3.0)
    osd: bool = checked(Boolean(), default=False)
    """Also show a text on the TV with each action (CEC <Set OSD String>)."""
    osd_texts: dict[str, str] = checked(Table(OSD_TEXT, keys=ACTIONS), default_factory=dict)
    """action -> on-screen text, over `OSD_TEXTS`; '' shows nothing for that action."""


@dataclass(frozen=True)
class CommandSettings:
    actions: dict[str, tuple[str, ...]] = checked(
        Table(StringList(min_items=1, what="strings (an argv, no shell)"), keys=ACTIONS), default_factory=dict)
    """action -> argv run for it (no shell)."""
    timeout_s: float = checked(Number(0, 300, lo_open=True), default=5.0)


@dataclass(frozen=True)
class SpeakSettings:
    texts: dict[str, str] = checked(Table(SPEECH_TEXT, keys=ACTIONS), default_factory=dict)
    """action -> what is said, over `SPEECH_TEXTS`; '' says nothing for that action."""
    voice: str = checked(String(pattern=r"[A-Za-z0-9][A-Za-z0-9_+.-]{0,63}",
                                what="an espeak-ng voice name such as \"en\" or \"en-us+f3\""), default="en")
    """espeak-ng voice (`espeak-ng --voices` lists them; `+f3` etc. pick a variant)."""
    speed_wpm: int = checked(Integer(80, 450), default=175)
    """Speaking speed, words per minute (espeak-ng's -s)."""
    amplitude: int = checked(Integer(0, 200), default=100)
    """Loudness, 0..200 (espeak-ng's -a; 100 is its default)."""
    device: str = checked(String(), default="")
    """Audio output device for espeak-ng's -d (an ALSA PCM name such as 'hdmi:CARD=vc4hdmi0,DEV=0'); empty:
    the default output."""
    timeout_s: float = checked(Number(0, 30, lo_open=True), default=5.0)
    """Bound on every espeak-ng call (it returns when the phrase has been played)."""


@dataclass(frozen=True)
class SinkSettings:
    enabled: tuple[str, ...] = checked(StringList(min_items=1, distinct=True, choices=SINKS), default=("log",))
    mpris: MprisSettings = section(MprisSettings)
    cec: CecSettings = section(CecSettings)
    command: CommandSettings = section(CommandSettings)
    speak: SpeakSettings = section(SpeakSettings)


@dataclass(frozen=True)
class Config:
    runtime: RuntimeSettings = section(RuntimeSettings)
    decision: DecisionSettings = section(DecisionSettings)
    actions: dict[str, str] = checked(Table(OneOf(ACTIONS)), default_factory=dict)
    """gesture -> action overrides on top of the bundle manifest's map."""
    sinks: SinkSettings = section(SinkSettings)
    log_level: str = checked(OneOf(LOG_LEVELS), default="info", key=("logging", "level"))
    source_path: str = computed(default="")
    """The file this config was read from ('' for defaults)."""
    decision_keys: frozenset[str] = computed(default=frozenset())
    """The `decision` fields the config file (or a flag) set: they override the bundle's decision block."""


# -- the decision settings a run uses ------------------------------------------------------------------------

THRESHOLD_FIELDS = frozenset({"threshold", "thresholds"})
"""Set together: a config file that sets either replaces all of the bundle's thresholds."""


def decision_fields(block: Mapping[str, Any], path: tuple[str, ...] = ("decision",)) -> dict[str, Any]:
    """A decision table (the config's [decision], a bundle manifest's "decision" object) read and checked field
    by field: field name -> value for the keys it sets. Raises edge.validate.Invalid / UnknownKey."""
    return read_fields(DecisionSettings, block, path, strict=True, table="an object")


def resolve_decision(config: Config, bundle_block: Mapping[str, Any] | None) -> DecisionSettings:
    """The decision settings of a run: built-in defaults < the bundle's decision block < the config file's
    [decision] keys and flags (`config.decision_keys`). Thresholds go as one: when the config sets `threshold`
    or `thresholds`, none of the bundle's thresholds apply."""
    if not bundle_block:
        return config.decision
    values = decision_fields(bundle_block)
    if config.decision_keys & THRESHOLD_FIELDS:
        values = {k: v for k, v in values.items() if k not in THRESHOLD_FIELDS}
    values.update({k: getattr(config.decision, k) for k in config.decision_keys})
    return DecisionSettings(**values)
