"""The one adapter between the runtime and a TFLite interpreter's tensors: set, invoke, get, resize.

Two implementations behind one small interface (`TensorAccess`):

* **fast** (`ai_edge_litert`, `tflite_runtime`, `tensorflow.lite` as of today): the signature runner's
  private `_interpreter_wrapper` and `_subgraph_index`, called directly. The public signature runner call
  would resize and re-allocate every input on every invocation; `Interpreter.invoke` checks reference
  counts first. This is the only module of the project that touches a private attribute of the runtime.
* **public** (any runtime that lacks those attributes): `Interpreter.set_tensor`, `invoke`, `get_tensor`,
  `resize_tensor_input`, `allocate_tensors`, on the model's primary subgraph (the one signature of a bundle
  model is that subgraph; `bind` checks it).

Both give identical outputs (tested on a real bundle, tests/test_tflite.py); which one is in use is logged
once per process and kind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)

FAST, PUBLIC = "fast", "public"
KINDS = (FAST, PUBLIC)
_logged: set[tuple[str, str]] = set()


class TensorAccess(Protocol):
    """Set inputs, invoke, read outputs and resize inputs of one signature, by tensor index."""

    kind: str
    """'fast' or 'public'."""

    def set(self, index: int, value: np.ndarray) -> None:
        """Copy `value` into input tensor `index` (its shape and dtype must match the tensor's)."""

    def invoke(self) -> None:
        """Run the model on the inputs set."""

    def get(self, index: int) -> np.ndarray:
        """A copy of output tensor `index` (valid after invoke)."""

    def resize(self, shapes: Mapping[int, Sequence[int]]) -> None:
        """Resize input tensors (only their dynamic, -1 dimensions) and re-allocate."""


class _Fast:
    """The runner's own wrapper, addressed with its subgraph index: no per-call resize or safety check."""

    kind = FAST

    def __init__(self, wrapper: Any, subgraph: int) -> None:
        self._wrapper, self._subgraph = wrapper, subgraph
        self._set, self._get, self._invoke = wrapper.SetTensor, wrapper.GetTensor, wrapper.Invoke

    def set(self, index: int, value: np.ndarray) -> None:
        self._set(index, value, self._subgraph)

    def invoke(self) -> None:
        self._invoke(self._subgraph)

    def get(self, index: int) -> np.ndarray:
        return self._get(index, self._subgraph)

    def resize(self, shapes: Mapping[int, Sequence[int]]) -> None:
        for index, shape in shapes.items():
            self._wrapper.ResizeInputTensor(index, np.asarray(shape, dtype=np.int32), True, self._subgraph)
        self._wrapper.AllocateTensors(self._subgraph)


class _Public:
    """The Interpreter's documented methods on its primary subgraph."""

    kind = PUBLIC

    def __init__(self, interpreter: Any) -> None:
        self._interpreter = interpreter
        self._set, self._get, self._invoke = interpreter.set_tensor, interpreter.get_tensor, interpreter.invoke

    def set(self, index: int, value: np.ndarray) -> None:
        self._set(index, value)

    def invoke(self) -> None:
        self._invoke()

    def get(self, index: int) -> np.ndarray:
        return self._get(index)

    def resize(self, shapes: Mapping[int, Sequence[int]]) -> None:
        for index, shape in shapes.items():
            self._interpreter.resize_tensor_input(index, list(shape), strict=True)
        self._interpreter.allocate_tensors()


def _primary_subgraph_serves(interpreter: Any, runner: Any) -> bool:
    """Whether the signature's tensors are the primary subgraph's inputs and outputs (public API only)."""
    def indexes(details: Any) -> set[int]:
        values = details.values() if isinstance(details, dict) else details
        return {int(d["index"]) for d in values}

    return (indexes(interpreter.get_input_details()) == indexes(runner.get_input_details())
            and indexes(interpreter.get_output_details()) == indexes(runner.get_output_details()))


def bind(interpreter: Any, runner: Any, kind: str = "auto", what: str = "model") -> TensorAccess:
    """Tensor access for `runner` (a signature runner of `interpreter`, already allocated once).

    `kind`: 'auto' (fast when the runtime has the attributes, else public), 'fast' or 'public'. Raises
    ValueError (one line) when the asked kind cannot serve this model.
    """
    if kind not in ("auto", *KINDS):
        raise ValueError(f"tensor access '{kind}': expected auto, {', '.join(KINDS)}")
    access: TensorAccess
    wrapper = getattr(runner, "_interpreter_wrapper", None)
    subgraph = getattr(runner, "_subgraph_index", None)
    if kind in ("auto", FAST) and wrapper is not None and isinstance(subgraph, int):
        access = _Fast(wrapper, subgraph)
    elif kind == FAST:
        raise ValueError(f"{what}: the runtime's signature runner has no _interpreter_wrapper/_subgraph_index "
                         f"(fast tensor access unavailable; use auto or public)")
    elif not _primary_subgraph_serves(interpreter, runner):
        raise ValueError(f"{what}: its signature is not the model's primary subgraph, which the public "
                         f"Interpreter methods address")
    else:
        access = _Public(interpreter)
    key = (type(interpreter).__module__.split(".")[0], access.kind)
    if key not in _logged:
        _logged.add(key)
        how = ("fast (the runtime's internal wrapper: tensors set and read directly)" if access.kind == FAST
               else "public (Interpreter.set_tensor, invoke, get_tensor)")
        logger.info("TFLite tensor access: %s", how)
    return access
