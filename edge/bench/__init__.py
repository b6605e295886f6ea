"""gesture-bench: the benchmarks of the edge runtime, on the board itself (no TensorFlow needed).

    edge.bench.cli        the argument parser and `main` (console script gesture-bench; `python -m edge.bench`)
    edge.bench.latency    per-stage latency of five variants and the design's floor on the same frames
    edge.bench.events     the full runtime over streams with ground truth, scored event by event
    edge.bench.agreement  top-1 agreement of the integer models with the float references, per model
    edge.bench.rss        peak RSS of `gesture-edge run` in a child process
    edge.bench.tune       decision settings within a false-action budget, reported on held-out footage
    edge.bench.render     the reports as text, markdown and plots
    edge.bench.output     statistics, machine facts, progress line, tables, JSON and the plot backend

Scoring against ground truth is `edge.metrics` (the runtime's `gesture-edge capture` uses it too).
Nothing here imports TensorFlow, Keras, mediapipe or matplotlib at import time: only the variant or the
`--plot` that needs one does. This package module imports nothing, so a worker run under another Python
(`--peer-python`) needs only numpy besides what it measures.
"""

from __future__ import annotations


class BenchError(ValueError):
    """A user-facing problem with the benchmark's inputs. The message is one line."""
