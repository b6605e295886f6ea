"""Typed, frozen settings for the edge runtime.

`edge.config` builds a `Config` from a TOML file (validating every key and range); the CLI overlays its
flags; the runtime only ever sees these objects. Defaults here are the documented defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BACKENDS = ("auto", "ai_edge_litert", "tflite_runtime", "tensorflow")
SINKS = ("log", "mpris", "cec", "command")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class RuntimeSettings:
    bundle: str = ""
    """Bundle folder made by gesture-convert (manifest.json, features.tflite, step.tflite)."""
    source: str = "cam:0"
    """picamera2 | cam:N | /dev/videoN | a video file | a folder of frames."""
    backend: str = "auto"
    """TFLite runtime: auto tries ai_edge_litert, then tflite_runtime, then tensorflow.lite."""
    num_threads: int = 2
    """Interpreter threads per model (1..16)."""
    hop_frames: int = 2
    """A new recurrent state starts every `hop_frames` model frames (1..frames_per_clip)."""
    realtime: bool = False
    """Play a video file at its own speed instead of as fast as possible."""
    status_interval_s: float = 10.0
    """Seconds between status lines in the log (and STATUS= to systemd)."""
    camera_retry_max_s: float = 30.0
    """Upper bound of the back-off between attempts to reopen a camera."""


@dataclass(frozen=True)
class DecisionSettings:
    threshold: float = 0.8
    """Minimum window probability for a gesture, (0, 1]."""
    thresholds: dict[str, float] = field(default_factory=dict)
    """Per-gesture overrides of `threshold`."""
    consecutive_windows: int = 2
    """Windows in a row whose top-1 is the same gesture above its threshold before it fires."""
    cooldown_s: float = 1.5
    """After a gesture fires, the same gesture cannot fire again for this long."""
    refractory_s: float = 1.0
    """After any event, no other gesture can fire for this long."""
    rearm_below: float = 0.5
    """Hysteresis: a run that fired lasts through windows where its gesture is still the top-1 with at least
    this probability, even below its threshold; only a lower window (or another top-1) re-arms it."""
    repeat_enabled: bool = False
    """Auto-repeat while a gesture in `repeat_gestures` stays recognised (volume)."""
    repeat_gestures: tuple[str, ...] = ("Thumbs Up", "Thumbs Down")
    repeat_after_s: float = 1.0
    """Held this long after firing, the gesture fires again..."""
    repeat_every_s: float = 0.5
    """...and then again every this many seconds..."""
    repeat_max: int = 5
    """...at most this many extra times per hold."""


@dataclass(frozen=True)
class MprisSettings:
    player: str = ""
    """Bus name or prefix to control ('mpv', 'org.mpris.MediaPlayer2.vlc'); empty: the Playing one."""
    volume_step: float = 0.05
    """Volume change per volume_up/volume_down, in MPRIS units (0..1)."""
    timeout_s: float = 1.0
    """Bound on every D-Bus call."""


@dataclass(frozen=True)
class CecSettings:
    device: str = "/dev/cec0"
    tool: str = "auto"
    """auto (cec-ctl, else cec-client) | cec-ctl | cec-client."""
    osd_name: str = "gesture-edge"
    play_target: int = 0
    """Logical address that gets play/pause/stop/next/previous (0 = TV)."""
    volume_target: str = "auto"
    """auto (audio system 5 if present, else TV 0) | tv | audio."""
    timeout_s: float = 3.0


@dataclass(frozen=True)
class CommandSettings:
    actions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """action -> argv run for it (no shell)."""
    timeout_s: float = 5.0


@dataclass(frozen=True)
class SinkSettings:
    enabled: tuple[str, ...] = ("log",)
    mpris: MprisSettings = field(default_factory=MprisSettings)
    cec: CecSettings = field(default_factory=CecSettings)
    command: CommandSettings = field(default_factory=CommandSettings)


@dataclass(frozen=True)
class Config:
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    decision: DecisionSettings = field(default_factory=DecisionSettings)
    actions: dict[str, str] = field(default_factory=dict)
    """gesture -> action overrides on top of the bundle manifest's map."""
    sinks: SinkSettings = field(default_factory=SinkSettings)
    log_level: str = "info"
    source_path: str = ""
    """The file this config was read from ('' for defaults)."""
