"""Read the TOML config file into the frozen settings of `edge.settings`, validating every key.

Every problem is a `ConfigError` whose message is one line naming the file, the line (found by scanning the
file text: tomllib reports no positions), the dotted key, what was expected and what was found:

    config.toml:7: key 'decision.threshold': expected a number in (0, 1], got 1.5
    config.toml:12: unknown key 'sinks.mpris.playr' (allowed in [sinks.mpris]: player, volume_step, timeout_s)
    config.toml:3:11: invalid TOML: Invalid value

Search order without --config: $XDG_CONFIG_HOME/gesture-edge/config.toml (default ~/.config/...),
then /etc/gesture-edge/config.toml, else the built-in defaults.

Paths: one rule. A relative path in a config file (`runtime.bundle`, and `runtime.source` when it names a
file or folder rather than a camera) is relative to the config file's folder, and `~` is expanded; a path
given as a command-line flag is relative to the current directory, as for any command.

The file is read only when it is a regular file of at most `CONFIG_MAX_BYTES` (a FIFO or `/dev/zero` is
refused at once), and anything it holds that cannot be parsed (deeply nested arrays included) is a
ConfigError, never a traceback. Strings may not hold NUL characters (no program argument or path can).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from edge.readfile import MIB, ReadRefused, read_small_text
from edge.settings import Config, RuntimeChanges, decision_fields, is_camera_source
from edge.validate import Invalid, UnknownKey, key_paths, message, read_fields

logger = logging.getLogger(__name__)

APP_DIR_NAME = "gesture-edge"
CONFIG_NAME = "config.toml"
SYSTEM_CONFIG = Path("/etc") / APP_DIR_NAME / CONFIG_NAME
CONFIG_MAX_BYTES = 1 * MIB
"""A config file is a few KiB; anything larger is not one (and is not read into memory)."""


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
        return ConfigError(message(f"{self.where(path)}: key '{format_key(path)}'", expected, value))

    def unknown(self, path: Sequence[str], allowed: Iterable[str]) -> ConfigError:
        table = f"in [{format_key(path[:-1])}]" if len(path) > 1 else "at the top level"
        return ConfigError(f"{self.where(path)}: unknown key '{format_key(path)}' "
                           f"(allowed {table}: {', '.join(allowed)})")


# -- the schema: the fields of edge.settings ---------------------------------------------------------------


def schema_paths() -> list[tuple[str, ...]]:
    """Every key the reader knows, as paths (a table with free keys, like [actions]: the table itself); walked
    from the settings fields, so it always matches what `config_from_dict` reads."""
    return key_paths(Config)


def _first_nul(data: Any) -> tuple[tuple[str, ...], Any] | None:
    """The key path and value of the first string (a key or a value) holding a NUL character, or None.

    Iterative: the data may be nested as deeply as the TOML parser allowed."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                if "\0" in key:
                    return path + (key,), key
                stack.append((path + (key,), item))
        elif isinstance(value, list):
            stack.extend((path, item) for item in reversed(value))
        elif isinstance(value, str) and "\0" in value:
            return path, value
    return None


def _resolve_path(value: str, base_dir: Path | None) -> str:
    """`~` expanded; a relative path made relative to `base_dir` (the config file's folder)."""
    expanded = Path(value).expanduser()
    if not expanded.is_absolute() and base_dir is not None:
        expanded = base_dir / expanded
    return str(expanded)


def config_from_dict(data: dict[str, Any], *, source: str = "<config>", text: str = "",
                     base_dir: Path | None = None) -> Config:
    """Validate parsed TOML (`tomllib.loads` output) and build a Config; `text` gives error line numbers.

    Relative paths (`runtime.bundle`, a file or folder `runtime.source`) are made relative to `base_dir`."""
    r = _Reader(source, key_lines(text) if text else {})
    nul = _first_nul(data)
    if nul is not None:
        path, value = nul
        raise r.bad(path, "text without NUL characters", value)
    try:
        config = Config(**read_fields(Config, data))
    except Invalid as exc:
        raise r.bad(exc.path, exc.expected, exc.value) from None
    except UnknownKey as exc:
        raise r.unknown(exc.path, exc.allowed) from None
    runtime: RuntimeChanges = {}
    if config.runtime.bundle:
        runtime["bundle"] = _resolve_path(config.runtime.bundle, base_dir)
    spec = config.runtime.source.strip()
    if not is_camera_source(spec) and not (":" in spec and not spec.startswith(("/", ".", "~"))):
        runtime["source"] = _resolve_path(spec, base_dir)  # a file or folder (not a URL-like unknown spec)
    if runtime:
        config = dataclasses.replace(config, runtime=dataclasses.replace(config.runtime, **runtime))
    # Which decision keys the file set: those, and only those, override the bundle's decision block.
    decision_keys = frozenset(decision_fields(data["decision"])) if "decision" in data else frozenset()
    return dataclasses.replace(config, source_path=source if source != "<config>" else "", decision_keys=decision_keys)


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """tomllib.loads with its error turned into `FILE:LINE:COL: invalid TOML: ...`."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
        where = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", reason)
        if where:
            reason = reason[: where.start()]
            raise ConfigError(f"{source}:{where.group(1)}:{where.group(2)}: invalid TOML: {reason}") from None
        reason = re.sub(r"\s*\(at end of document\)\s*$", "", reason)
        line = text.count("\n") + 1
        raise ConfigError(f"{source}:{line}: invalid TOML: {reason} (at the end of the file)") from None
    except RecursionError:
        # tomllib parses arrays and inline tables recursively: thousands of nested brackets exhaust the stack.
        raise ConfigError(f"{source}: invalid TOML: arrays or tables nested too deeply to parse") from None


def read_config_text(path: str | os.PathLike[str]) -> str:
    """The text of a config file: a regular file of at most CONFIG_MAX_BYTES of UTF-8; ConfigError if not."""
    try:
        return read_small_text(path, CONFIG_MAX_BYTES)
    except ReadRefused as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a TOML config file; raises ConfigError (one line) on any problem."""
    source = str(path)
    text = read_config_text(path)
    data = parse_toml(text, source)
    try:
        return config_from_dict(data, source=source, text=text, base_dir=Path(path).resolve().parent)
    except RecursionError:  # a value nested deeply enough to exhaust the stack while it is checked or shown
        raise ConfigError(f"{source}: a value is nested too deeply to check") from None


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


def validate_gestures(config: Config, labels: Sequence[str], background: str | None = None) -> None:
    """Check that every gesture the config names is one of the bundle's gestures; ConfigError if not.

    The background class (`background`) is a label but not a gesture: no action or repeat may name it (a
    threshold for it is allowed: it is never used)."""
    text = ""
    if config.source_path:
        try:
            text = read_small_text(config.source_path, CONFIG_MAX_BYTES)
        except ReadRefused:
            text = ""
    r = _Reader(config.source_path or "<config>", key_lines(text) if text else {})
    known = ", ".join(json.dumps(x) for x in labels if x != background)
    named: list[tuple[tuple[str, ...], str]] = []
    named += [(("decision", "thresholds", g), g) for g in config.decision.thresholds]
    named += [(("actions", g), g) for g in config.actions]
    if config.decision.repeat_enabled:
        named += [(("decision", "repeat", "gestures"), g) for g in config.decision.repeat_gestures]
    for path, gesture in named:
        if gesture not in labels:
            raise ConfigError(f"{r.where(path)}: key '{format_key(path)}': the bundle has no gesture "
                              f"{json.dumps(gesture)} (its gestures: {known})")
        if gesture == background and path[:2] != ("decision", "thresholds"):
            raise ConfigError(f"{r.where(path)}: key '{format_key(path)}': {json.dumps(gesture)} is the bundle's "
                              f"background class (no gesture at all), not a gesture (its gestures: {known})")
