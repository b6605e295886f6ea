"""edge.tflite: the fast and the public tensor access give identical outputs on a real bundle; the pinned
runtime gets the fast one; the choice is logged."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from edge import tflite
from edge.bundle import load_bundle
from edge.stream import StreamingClassifier, classify_window_raw

from test_stream import stream_frames


@pytest.fixture(scope="module")
def frames(demo_bundle):
    return stream_frames(load_bundle(demo_bundle), 40)


@pytest.mark.parametrize("precision", ["int8", "float"])
def test_fast_and_public_access_give_identical_outputs(demo_bundle, frames, precision: str, caplog,
                                                       monkeypatch) -> None:
    monkeypatch.setattr(tflite, "_logged", set())  # the choice is logged once per process and kind
    with caplog.at_level(logging.INFO, logger="edge.tflite"):
        fast = load_bundle(demo_bundle, precision=precision, tensor_access="fast")
        public = load_bundle(demo_bundle, precision=precision, tensor_access="public")
    lines = [r.getMessage() for r in caplog.records if r.name == "edge.tflite"]
    assert lines == ["TFLite tensor access: fast (the runtime's internal wrapper: tensors set and read directly)",
                     "TFLite tensor access: public (Interpreter.set_tensor, invoke, get_tensor)"]
    for model in ("features", "step"):
        assert getattr(fast, model).access.kind == "fast" and getattr(public, model).access.kind == "public"
    # Streams (batch ceil(T/hop), resized through each path) and the windowed path (batch 1).
    for hop in (2, 3):
        got = {}
        for name, bundle in (("fast", fast), ("public", public)):
            stream = StreamingClassifier(bundle, hop_frames=hop)
            got[name] = [w.probs_q for i, f in enumerate(frames) for w in stream.push(f, i / 10)]
            assert bundle.step.batch == stream.steps_per_frame
        assert len(got["fast"]) == len(got["public"]) > 3
        for a, b in zip(got["fast"], got["public"]):
            np.testing.assert_array_equal(a, b)
    for start in (0, 11):
        clip = frames[start:start + fast.frames_per_clip]
        np.testing.assert_array_equal(classify_window_raw(fast, clip)[1], classify_window_raw(public, clip)[1])
    # Raw tensors: every output of both models, at two batch sizes of the step model.
    np.testing.assert_array_equal(fast.features.extract(frames[5]), public.features.extract(frames[5]))
    rng = np.random.default_rng(3)
    for batch in (4, 1):
        inputs = {}
        for role, spec in fast.step.spec.inputs.items():
            shape = (batch, *spec.shape[1:])
            inputs[role] = (rng.normal(size=shape).astype(np.float32) if spec.dtype == "float32" else
                            rng.integers(-128, 128, size=shape).astype(spec.dtype))
        out_fast, out_public = fast.step.run(inputs), public.step.run(inputs)
        assert set(out_fast) == set(out_public) == set(fast.step.spec.outputs)
        for role in out_fast:
            assert out_fast[role].shape[0] == batch
            np.testing.assert_array_equal(out_fast[role], out_public[role])


def test_the_pinned_runtime_gets_the_fast_path(demo_bundle) -> None:
    """ai_edge_litert (the pinned edge runtime) has the attributes the fast path needs: auto picks it."""
    bundle = load_bundle(demo_bundle, backend="ai_edge_litert")
    assert bundle.backend.name == "ai_edge_litert"
    assert bundle.features.access.kind == bundle.step.access.kind == "fast"


def test_unknown_access_kind_is_a_one_line_error(demo_bundle) -> None:
    with pytest.raises(ValueError, match="tensor access 'quick': expected auto, fast, public"):
        load_bundle(demo_bundle, tensor_access="quick")
