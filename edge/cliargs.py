"""argparse pieces shared by the five command-line tools (gesture-edge, gesture-synth, gesture-train,
gesture-convert, gesture-bench): one-line errors, --version/--log-level, and checked argument types.

The types word their errors like every other check of the project (`edge.validate`):
`gesture-edge: error: argument --hop: expected an integer in 1..64, got '0' (see --help)`. A flag that
overrides a config key takes its check from the settings field (`setting_arg`), so the two cannot disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from edge import __version__
from edge.validate import Check, Integer, Invalid, Number, field_specs
from edge.vocab import LOG_LEVELS

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def add_version(parser: argparse.ArgumentParser, prog: str | None = None) -> None:
    """--version: 'PROG VERSION' (`prog` for a sub-command that should print the tool's name)."""
    parser.add_argument("--version", action="version", version=f"{prog or '%(prog)s'} {__version__}")


def add_log_level(parser: argparse.ArgumentParser, default: str | None = "info", help: str | None = None) -> None:
    """--log-level with the shared choices."""
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=default,
                        help=help or f"{', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]} (default {default})")


def _bad(expected: str, text: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"expected {expected}, got '{text}'")


def arg_type(check: Check, name: str | None = None) -> Callable[[str], Any]:
    """An argparse `type` that parses the text as `check` wants it (an integer, a number...) and checks it."""

    def parse(text: str) -> Any:
        try:
            return check(check.parse_text(text))
        except Invalid:
            raise _bad(check.expected, text) from None

    parse.__name__ = name or type(check).__name__.lower()  # argparse names the type in a few messages
    return parse


def int_arg(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An integer in lo..hi (either bound may be None)."""
    return arg_type(Integer(lo, hi), "int")


def number_arg(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
               hi_open: bool = False) -> Callable[[str], float]:
    """A finite number within the bounds."""
    return arg_type(Number(lo, hi, lo_open=lo_open, hi_open=hi_open), "float")


positive_arg = number_arg(0, lo_open=True)
"""A finite number > 0."""
non_negative_arg = number_arg(0)
"""A finite number >= 0."""


def setting_arg(settings_class: type, field_name: str) -> Callable[[str], Any]:
    """The argument type of a flag that overrides a settings field: the field's own check and bounds."""
    for spec in field_specs(settings_class):
        if spec.name == field_name and spec.check is not None:
            return arg_type(spec.check, field_name)
    names = [f.name for f in dataclasses.fields(settings_class)]
    raise KeyError(f"{settings_class.__name__} has no checked field {field_name!r} (fields: {', '.join(names)})")


SIZE_PX = (16, 4096)


def size_arg(text: str) -> tuple[int, int]:
    """HxW in pixels, 16..4096 each side."""
    expected = f"HxW with {SIZE_PX[0]}..{SIZE_PX[1]} px each side, e.g. 120x160"
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise _bad(expected, text) from None
    if not (SIZE_PX[0] <= height <= SIZE_PX[1] and SIZE_PX[0] <= width <= SIZE_PX[1]):
        raise _bad(expected, text)
    return height, width


def int_list_arg(lo: int, hi: int, what: str, example: str) -> Callable[[str], tuple[int, ...]]:
    """Comma-separated integers in lo..hi (at least one; repeats dropped, order kept), e.g. thread counts."""
    expected = f"{what} in {lo}..{hi}, comma-separated like {example}"

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise _bad(expected, text) from None
        if not values or any(not lo <= v <= hi for v in values):
            raise _bad(expected, text)
        return tuple(dict.fromkeys(values))

    parse.__name__ = "int list"
    return parse


def choice_list_arg(choices: Sequence[str], what: str, *, unique: bool = False) -> Callable[[str], tuple[str, ...]]:
    """Comma-separated names from `choices` (at least one), in the order given; `unique` drops repeats."""
    expected = f"a comma-separated list of {', '.join(choices)}"

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        unknown = [n for n in names if n not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {what} '{unknown[0]}': expected {expected}")
        if not names:
            raise _bad(expected, text)
        return tuple(dict.fromkeys(names)) if unique else names

    parse.__name__ = f"{what} list"
    return parse


def span_arg(unit: str, upper: float = 1e6) -> Callable[[str], tuple[float, float]]:
    """MIN,MAX: two numbers with 0 < MIN <= MAX < `upper` (e.g. a range of gaps in seconds)."""
    expected = f"MIN,MAX {unit} with 0 < MIN <= MAX < {upper:g}"

    def parse(text: str) -> tuple[float, float]:
        try:
            lo, hi = (float(v) for v in text.split(","))
        except ValueError:
            raise _bad(expected, text) from None
        if not (0 < lo <= hi < upper):
            raise _bad(expected, text)
        return lo, hi

    parse.__name__ = "span"
    return parse
