"""Read the TOML config file into the frozen settings of `edge.settings`, validating every key.

Every problem is a `ConfigError` whose message is one line naming the file, the line (found by scanning the
file text: tomllib reports no positions), the dotted key, what was expected and what was found:

    config.toml:7: key 'decision.threshold': expected a number in (0, 1], got 1.5
    config.toml:12: unknown key 'sinks.mpris.playr' (allowed in [sinks.mpris]: player, volume_step, timeout_s)
    config.toml:3:11: invalid TOML: Invalid value

Search order without --config: $XDG_CONFIG_HOME/gesture-edge/config.toml (default ~/.config/...),
then /etc/gesture-edge/config.toml, else the built-in defaults. A relative `runtime.bundle` is relative to
the config file's folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from edge.manifest import ACTIONS
from edge.settings import (BACKENDS, LOG_LEVELS, SINKS, CecSettings, CommandSettings, Config, DecisionSettings,
                           MprisSettings, RuntimeSettings, SinkSettings)

logger = logging.getLogger(__name__)

APP_DIR_NAME = "gesture-edge"
CONFIG_NAME = "config.toml"
SYSTEM_CONFIG = Path("/etc") / APP_DIR_NAME / CONFIG_NAME
CEC_TOOLS = ("auto", "cec-ctl", "cec-client")
VOLUME_TARGETS = ("auto", "tv", "audio")
OSD_NAME_MAX_CHARS = 14
"""CEC <Set OSD Name> carries at most 14 ASCII characters."""


class ConfigError(ValueError):
    """A config file that cannot be used. The message is one line."""


# -- where keys are in the file ---------------------------------------------------------------------------

_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"(?:[^"\\\n]|\\.)*"'
_LITERAL = r"'[^'\n]*'"
_PART = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_TABLE_RE = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_KEYVAL_RE = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_PART)


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = []
    for raw in _PART_RE.findall(dotted):
        if raw.startswith('"'):
            try:
                parts.append(tomllib.loads(f"k = {raw}")["k"])
            except tomllib.TOMLDecodeError:
                parts.append(raw[1:-1])
        elif raw.startswith("'"):
            parts.append(raw[1:-1])
        else:
            parts.append(raw)
    return tuple(parts)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map every table header and `key =` line of a TOML text to its 1-based line number (first wins).

    A light scanner, not a parser: enough to point at the line of a key that the real parser (tomllib)
    already accepted. Keys inside inline tables map to nothing; lookups fall back to the enclosing key.
    """
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline is not None:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        header = _TABLE_RE.match(line)
        if header:
            table = _split_key(header.group(1))
            lines.setdefault(table, number)
            continue
        keyval = _KEYVAL_RE.match(line)
        if keyval:
            lines.setdefault(table + _split_key(keyval.group(1)), number)
            rest = line[keyval.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_multiline = quote
                    break
    return lines


def format_key(path: Sequence[str]) -> str:
    """('decision', 'thresholds', 'Thumbs Up') -> decision.thresholds."Thumbs Up"."""
    return ".".join(p if re.fullmatch(_BARE, p) else json.dumps(p) for p in path)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "a table"
    else:
        text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class _Reader:
    source: str
    lines: dict[tuple[str, ...], int]

    def where(self, path: Sequence[str]) -> str:
        path = tuple(path)
        for i in range(len(path), 0, -1):
            if path[:i] in self.lines:
                return f"{self.source}:{self.lines[path[:i]]}"
        return self.source

    def bad(self, path: Sequence[str], expected: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.where(path)}: key '{format_key(path)}': expected {expected}, got {_show(value)}")

    def unknown(self, path: Sequence[str], allowed: Iterable[str]) -> ConfigError:
        table = f"in [{format_key(path[:-1])}]" if len(path) > 1 else "at the top level"
        return ConfigError(f"{self.where(path)}: unknown key '{format_key(path)}' "
                           f"(allowed {table}: {', '.join(allowed)})")


# -- value checks -------------------------------------------------------------------------------------------

Check = Callable[[_Reader, tuple[str, ...], Any], Any]


def _number(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Check:
    expected = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"

    def check(r: _Reader, path: tuple[str, ...], v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise r.bad(path, expected, v)
        if v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
            raise r.bad(path, expected, v)
        return float(v)
    return check


def _integer(lo: int, hi: int) -> Check:
    expected = f"an integer in {lo}..{hi}"

    def check(r: _Reader, path: tuple[str, ...], v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise r.bad(path, expected, v)
        return v
    return check


def _boolean(r: _Reader, path: tuple[str, ...], v: Any) -> bool:
    if not isinstance(v, bool):
        raise r.bad(path, "true or false", v)
    return v


def _string(non_empty: bool = False) -> Check:
    expected = "a non-empty string" if non_empty else "a string"

    def check(r: _Reader, path: tuple[str, ...], v: Any) -> str:
        if not isinstance(v, str) or (non_empty and not v.strip()):
            raise r.bad(path, expected, v)
        return v
    return check


def _one_of(options: Sequence[str]) -> Check:
    expected = "one of " + ", ".join(json.dumps(o) for o in options)

    def check(r: _Reader, path: tuple[str, ...], v: Any) -> str:
        if not isinstance(v, str) or v not in options:
            raise r.bad(path, expected, v)
        return v
    return check


def _osd_name(r: _Reader, path: tuple[str, ...], v: Any) -> str:
    expected = f"1 to {OSD_NAME_MAX_CHARS} printable ASCII characters"
    if not isinstance(v, str) or not 1 <= len(v) <= OSD_NAME_MAX_CHARS or not all(32 <= ord(c) < 127 for c in v):
        raise r.bad(path, expected, v)
    return v


def _string_list(non_empty_list: bool, choices: Sequence[str] | None = None, what: str = "strings") -> Check:
    if choices is not None:
        expected = ("a non-empty " if non_empty_list else "a ") + "list of distinct values from " + \
            ", ".join(json.dumps(c) for c in choices)
    else:
        expected = ("a non-empty " if non_empty_list else "a ") + f"list of non-empty {what}"

    def check(r: _Reader, path: tuple[str, ...], v: Any) -> tuple[str, ...]:
        if not isinstance(v, list) or (non_empty_list and not v):
            raise r.bad(path, expected, v)
        for item in v:
            if not isinstance(item, str) or not item.strip() or (choices is not None and item not in choices):
                raise r.bad(path, expected, v)
        if choices is not None and len(set(v)) != len(v):
            raise r.bad(path, expected, v)
        return tuple(v)
    return check


def _table(r: _Reader, path: tuple[str, ...], v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise r.bad(path, "a table", v)
    return v


def _fields(r: _Reader, path: tuple[str, ...], data: Any, checks: dict[str, Check]) -> dict[str, Any]:
    """Check a table against `checks` (key -> check); unknown keys are errors. Returns checked values."""
    table = _table(r, path, data)
    out = {}
    for key, value in table.items():
        if key not in checks:
            raise r.unknown(path + (key,), checks)
        out[key] = checks[key](r, path + (key,), value)
    return out


def _mapping(r: _Reader, path: tuple[str, ...], data: Any, value_check: Check,
             keys: Sequence[str] | None = None) -> dict[str, Any]:
    """A table with free keys (gesture names) or keys from `keys`, every value checked by `value_check`."""
    table = _table(r, path, data)
    out = {}
    for key, value in table.items():
        if keys is not None and key not in keys:
            raise r.unknown(path + (key,), keys)
        if not key.strip():
            raise r.bad(path + (key,), "a non-empty name", key)
        out[key] = value_check(r, path + (key,), value)
    return out


# -- the schema ---------------------------------------------------------------------------------------------

RUNTIME_CHECKS: dict[str, Check] = {
    "bundle": _string(),
    "source": _string(non_empty=True),
    "backend": _one_of(BACKENDS),
    "num_threads": _integer(1, 16),
    "hop_frames": _integer(1, 64),
    "realtime": _boolean,
    "status_interval_s": _number(0, 3600, lo_open=True),
    "camera_retry_max_s": _number(0, 3600, lo_open=True),
}
THRESHOLD_CHECK = _number(0, 1, lo_open=True)
REPEAT_CHECKS: dict[str, Check] = {
    "enabled": _boolean,
    "gestures": _string_list(non_empty_list=False, what="gesture names"),
    "after_s": _number(0, 60, lo_open=True),
    "every_s": _number(0, 60, lo_open=True),
    "max": _integer(0, 50),
}
REPEAT_FIELDS = {"enabled": "repeat_enabled", "gestures": "repeat_gestures", "after_s": "repeat_after_s",
                 "every_s": "repeat_every_s", "max": "repeat_max"}
DECISION_CHECKS: dict[str, Check] = {
    "threshold": THRESHOLD_CHECK,
    "consecutive_windows": _integer(1, 20),
    "cooldown_s": _number(0, 60),
    "refractory_s": _number(0, 60),
    "rearm_below": _number(0, 1),
    # Sub-tables, checked by their own readers below.
    "thresholds": _table,
    "repeat": _table,
}
MPRIS_CHECKS: dict[str, Check] = {
    "player": _string(),
    "volume_step": _number(0, 0.5, lo_open=True),
    "timeout_s": _number(0, 30, lo_open=True),
}
CEC_CHECKS: dict[str, Check] = {
    "device": _string(non_empty=True),
    "tool": _one_of(CEC_TOOLS),
    "osd_name": _osd_name,
    "play_target": _integer(0, 15),
    "volume_target": _one_of(VOLUME_TARGETS),
    "timeout_s": _number(0, 30, lo_open=True),
}
COMMAND_CHECKS: dict[str, Check] = {
    "timeout_s": _number(0, 300, lo_open=True),
    "actions": _table,
}
SINKS_CHECKS: dict[str, Check] = {
    "enabled": _string_list(non_empty_list=True, choices=SINKS),
    "mpris": _table,
    "cec": _table,
    "command": _table,
}
LOGGING_CHECKS: dict[str, Check] = {"level": _one_of(LOG_LEVELS)}
TOP_LEVEL = ("runtime", "decision", "actions", "sinks", "logging")


def config_from_dict(data: dict[str, Any], *, source: str = "<config>", text: str = "",
                     base_dir: Path | None = None) -> Config:
    """Validate parsed TOML (`tomllib.loads` output) and build a Config; `text` gives error line numbers."""
    r = _Reader(source, key_lines(text) if text else {})
    for key in data:
        if key not in TOP_LEVEL:
            raise r.unknown((key,), TOP_LEVEL)

    runtime = _fields(r, ("runtime",), data.get("runtime", {}), RUNTIME_CHECKS)
    bundle = runtime.get("bundle")
    if bundle:
        expanded = Path(bundle).expanduser()
        if not expanded.is_absolute() and base_dir is not None:
            expanded = base_dir / expanded
        runtime["bundle"] = str(expanded)

    decision_raw = _fields(r, ("decision",), data.get("decision", {}), DECISION_CHECKS)
    decision = {k: v for k, v in decision_raw.items() if k not in ("thresholds", "repeat")}
    if "thresholds" in decision_raw:
        decision["thresholds"] = _mapping(r, ("decision", "thresholds"), decision_raw["thresholds"], THRESHOLD_CHECK)
    if "repeat" in decision_raw:
        repeat = _fields(r, ("decision", "repeat"), decision_raw["repeat"], REPEAT_CHECKS)
        decision.update({REPEAT_FIELDS[k]: v for k, v in repeat.items()})

    actions = _mapping(r, ("actions",), data.get("actions", {}), _one_of(ACTIONS))

    sinks_raw = _fields(r, ("sinks",), data.get("sinks", {}), SINKS_CHECKS)
    mpris = _fields(r, ("sinks", "mpris"), sinks_raw.get("mpris", {}), MPRIS_CHECKS)
    cec = _fields(r, ("sinks", "cec"), sinks_raw.get("cec", {}), CEC_CHECKS)
    command_raw = _fields(r, ("sinks", "command"), sinks_raw.get("command", {}), COMMAND_CHECKS)
    command = {k: v for k, v in command_raw.items() if k != "actions"}
    if "actions" in command_raw:
        command["actions"] = _mapping(r, ("sinks", "command", "actions"), command_raw["actions"],
                                      _string_list(non_empty_list=True, what="strings (an argv, no shell)"),
                                      keys=ACTIONS)
    sinks = {"mpris": dataclasses.replace(MprisSettings(), **mpris),
             "cec": dataclasses.replace(CecSettings(), **cec),
             "command": dataclasses.replace(CommandSettings(), **command)}
    if "enabled" in sinks_raw:
        sinks["enabled"] = sinks_raw["enabled"]

    logging_raw = _fields(r, ("logging",), data.get("logging", {}), LOGGING_CHECKS)

    return Config(
        runtime=dataclasses.replace(RuntimeSettings(), **runtime),
        decision=dataclasses.replace(DecisionSettings(), **decision),
        actions=actions,
        sinks=dataclasses.replace(SinkSettings(), **sinks),
        log_level=logging_raw.get("level", Config().log_level),
        source_path=source if source != "<config>" else "",
    )


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """tomllib.loads with its error turned into `FILE:LINE:COL: invalid TOML: ...`."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", message)
        if where:
            message = message[: where.start()]
            raise ConfigError(f"{source}:{where.group(1)}:{where.group(2)}: invalid TOML: {message}") from None
        message = re.sub(r"\s*\(at end of document\)\s*$", "", message)
        line = text.count("\n") + 1
        raise ConfigError(f"{source}:{line}: invalid TOML: {message} (at the end of the file)") from None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a TOML config file; raises ConfigError (one line) on any problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: cannot read the config file: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: cannot read the config file: it is a directory") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: cannot read the config file: not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the config file: {exc.strerror or exc}") from None
    data = parse_toml(text, source)
    return config_from_dict(data, source=source, text=text, base_dir=Path(path).resolve().parent)


def user_config_path(environ: dict[str, str] | None = None) -> Path:
    """$XDG_CONFIG_HOME/gesture-edge/config.toml, default ~/.config/gesture-edge/config.toml."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    return Path(base) / APP_DIR_NAME / CONFIG_NAME


def find_config(explicit: str | os.PathLike[str] | None = None, *, environ: dict[str, str] | None = None,
                system_path: Path = SYSTEM_CONFIG) -> Path | None:
    """The config file to use: `explicit` (even if missing: loading it then says so), else the user file,
    else the system file, else None (the built-in defaults)."""
    if explicit:
        return Path(explicit)
    for candidate in (user_config_path(environ), system_path):
        if candidate.is_file():
            return candidate
    return None


def resolve_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """`load_config(find_config(explicit))`, or the defaults when there is no config file anywhere."""
    path = find_config(explicit)
    if path is None:
        logger.debug("no config file (looked at %s and %s): using the defaults", user_config_path(), SYSTEM_CONFIG)
        return Config()
    return load_config(path)


def validate_gestures(config: Config, labels: Sequence[str]) -> None:
    """Check that every gesture the config names exists in the bundle's labels; ConfigError if not."""
    text = ""
    if config.source_path:
        try:
            text = Path(config.source_path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
    r = _Reader(config.source_path or "<config>", key_lines(text) if text else {})
    known = ", ".join(json.dumps(x) for x in labels)
    named: list[tuple[tuple[str, ...], str]] = []
    named += [(("decision", "thresholds", g), g) for g in config.decision.thresholds]
    named += [(("actions", g), g) for g in config.actions]
    if config.decision.repeat_enabled:
        named += [(("decision", "repeat", "gestures"), g) for g in config.decision.repeat_gestures]
    for path, gesture in named:
        if gesture not in labels:
            raise ConfigError(f"{r.where(path)}: key '{format_key(path)}': the bundle has no gesture "
                              f"{json.dumps(gesture)} (its gestures: {known})")


def check_config_main(argv: Sequence[str] | None = None) -> int:
    """`gesture-edge check-config [FILE]`: print 'FILE: ok' (exit 0) or the one-line error (exit 2)."""
    parser = argparse.ArgumentParser(prog="gesture-edge check-config",
                                     description="Validate a gesture-edge TOML config file without running.")
    parser.add_argument("file", nargs="?", help=f"config file (default: {user_config_path()}, then {SYSTEM_CONFIG})")
    args = parser.parse_args(argv)
    path = find_config(args.file)
    if path is None:
        print(f"no config file at {user_config_path()} or {SYSTEM_CONFIG}: the built-in defaults apply",
              file=sys.stderr)
        return 2
    try:
        load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{path}: ok")
    return 0
