"""Workstation stage: dataset readers, synthetic clips, training and full-integer TFLite export.

Needs the `[convert]` extra (TensorFlow). May import `edge` to verify exports with the code the Pi runs.
"""

from edge import __version__

__all__ = ["__version__"]
