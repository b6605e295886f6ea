"""The shared vocabularies: gesture names, the background class, actions, normalizations, quantization modes.

Defined once here; the runtime, the config reader, the manifest schema, the dataset readers, the synthetic
data and the exporter all import them (the bundle manifest then carries a model's own labels and actions).
"""

from __future__ import annotations

GESTURES = ("Swipe", "Stop", "Thumbs Down", "Thumbs Up")
"""The reference design's gestures, in our models' output order."""
BACKGROUND = "No gesture"
"""The optional background class: no gesture at all (it makes rejection much more reliable)."""
CLASSES = GESTURES + (BACKGROUND,)
"""Our models' class order (the background class last, only when present)."""

ACTIONS = ("play", "pause", "play_pause", "volume_up", "volume_down", "mute", "stop", "next", "previous")
"""Every action a sink understands."""
DEFAULT_ACTIONS = {
    "Swipe": "play",
    "Stop": "pause",
    "Thumbs Up": "volume_up",
    "Thumbs Down": "volume_down",
}
"""The reference design's bindings."""
REPEAT_GESTURES = ("Thumbs Up", "Thumbs Down")
"""Gestures that auto-repeat while held, when repeat is enabled (the volume ones)."""

CASESTUDY_LABELS = {0: "Left Swipe_new", 1: "Right Swipe_new", 2: "Stop_new", 3: "Thumbs Down_new",
                    4: "Thumbs Up_new", 5: BACKGROUND}
"""Case-study label index -> the label name its CSV files carry (index 5 is our background extension)."""
CASESTUDY_CLASSES = {0: "Swipe", 1: "Swipe", 2: "Stop", 3: "Thumbs Down", 4: "Thumbs Up", 5: BACKGROUND}
"""Case-study label index -> our class (left and right swipes merge into Swipe)."""

NORMALIZATION_SCALES = {
    "unit": (1.0 / 255.0, 0.0),
    "mobilenet": (1.0 / 127.5, -1.0),
    "none": (1.0, 0.0),
}
"""How a trained model expects pixels, as pixel -> scale * pixel + offset: unit = x/255, mobilenet =
x/127.5 - 1 (MobileNet's [-1, 1]), none = raw 0..255."""
NORMALIZATIONS = tuple(NORMALIZATION_SCALES)
LOG_LEVELS = ("debug", "info", "warning", "error")
"""Every CLI's --log-level choices and the config's logging.level."""
QUANTIZATION_MODES = ("int8", "int16x8")
PRECISIONS = ("int8", "float")
"""Which of a bundle's models run: the integer ones (the Pi), or the float/ references (comparisons)."""
"""Step model activations: int8, or int16x8 (16-bit activations, 8-bit weights); the frame model is int8."""
