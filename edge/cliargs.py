"""argparse pieces shared by the command-line tools (gesture-edge, gesture-synth): one-line errors, checked types."""

from __future__ import annotations

import argparse
import math


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump) and exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def int_arg(lo: int, hi: int) -> type:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}': expected an integer {lo}..{hi}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"'{text}': expected an integer {lo}..{hi}")
        return value
    return parse  # type: ignore[return-value]


def positive_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"'{text}': expected a number > 0")
    return value


def non_negative_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"'{text}': expected a number >= 0")
    return value


def size_arg(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected HxW, e.g. 120x160") from None
    if not (16 <= height <= 4096 and 16 <= width <= 4096):
        raise argparse.ArgumentTypeError(f"'{text}': expected 16..4096 px each side")
    return height, width
