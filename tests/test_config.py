"""edge.config: every key's bad value, unknown keys, syntax errors, the example config, the search order."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from edge import config as cfg
from edge.config import ConfigError, check_config_main, find_config, load_config, validate_gestures
from edge.manifest import ACTIONS
from edge.settings import Config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "systemd" / "config.example.toml"

# (table header or "", the offending line, dotted key, expected ..., got ...)
BAD_VALUES = [
    ("runtime", "bundle = 5", "runtime.bundle", "a string", "5"),
    ("runtime", 'source = ""', "runtime.source", "a non-empty string", '""'),
    ("runtime", 'backend = "gpu"', "runtime.backend",
     'one of "auto", "ai_edge_litert", "tflite_runtime", "tensorflow"', '"gpu"'),
    ("runtime", "num_threads = 0", "runtime.num_threads", "an integer in 1..16", "0"),
    ("runtime", "num_threads = 17", "runtime.num_threads", "an integer in 1..16", "17"),
    ("runtime", "num_threads = 2.0", "runtime.num_threads", "an integer in 1..16", "2.0"),
    ("runtime", "num_threads = true", "runtime.num_threads", "an integer in 1..16", "true"),
    ("runtime", "hop_frames = 65", "runtime.hop_frames", "an integer in 1..64", "65"),
    ("runtime", 'realtime = "yes"', "runtime.realtime", "true or false", '"yes"'),
    ("runtime", "status_interval_s = 0", "runtime.status_interval_s", "a number in (0, 3600]", "0"),
    ("runtime", "camera_retry_max_s = -1.5", "runtime.camera_retry_max_s", "a number in (0, 3600]", "-1.5"),
    ("decision", "threshold = 1.5", "decision.threshold", "a number in (0, 1]", "1.5"),
    ("decision", "threshold = 0", "decision.threshold", "a number in (0, 1]", "0"),
    ("decision", 'threshold = "high"', "decision.threshold", "a number in (0, 1]", '"high"'),
    ("decision", "threshold = nan", "decision.threshold", "a number in (0, 1]", "NaN"),
    ("decision", "consecutive_windows = 21", "decision.consecutive_windows", "an integer in 1..20", "21"),
    ("decision", "cooldown_s = 61", "decision.cooldown_s", "a number in [0, 60]", "61"),
    ("decision", "refractory_s = -0.1", "decision.refractory_s", "a number in [0, 60]", "-0.1"),
    ("decision", "rearm_below = 1.5", "decision.rearm_below", "a number in [0, 1]", "1.5"),
    ("decision", "thresholds = 3", "decision.thresholds", "a table", "3"),
    ("decision.thresholds", '"Thumbs Up" = 0', 'decision.thresholds."Thumbs Up"', "a number in (0, 1]", "0"),
    ("decision.repeat", "enabled = 1", "decision.repeat.enabled", "true or false", "1"),
    ("decision.repeat", 'gestures = "Swipe"', "decision.repeat.gestures",
     "a list of non-empty gesture names", '"Swipe"'),
    ("decision.repeat", 'gestures = [""]', "decision.repeat.gestures", "a list of non-empty gesture names",
     '[""]'),
    ("decision.repeat", "after_s = 0", "decision.repeat.after_s", "a number in (0, 60]", "0"),
    ("decision.repeat", "every_s = 61", "decision.repeat.every_s", "a number in (0, 60]", "61"),
    ("decision.repeat", "max = 51", "decision.repeat.max", "an integer in 0..50", "51"),
    ("actions", '"Swipe" = "fly"', "actions.Swipe", "one of " + ", ".join(f'"{a}"' for a in ACTIONS), '"fly"'),
    ("sinks", "enabled = []", "sinks.enabled",
     'a non-empty list of distinct values from "log", "mpris", "cec", "command"', "[]"),
    ("sinks", 'enabled = ["log", "log"]', "sinks.enabled",
     'a non-empty list of distinct values from "log", "mpris", "cec", "command"', '["log", "log"]'),
    ("sinks", 'enabled = ["tv"]', "sinks.enabled",
     'a non-empty list of distinct values from "log", "mpris", "cec", "command"', '["tv"]'),
    ("sinks", 'mpris = "vlc"', "sinks.mpris", "a table", '"vlc"'),
    ("sinks.mpris", "player = 1", "sinks.mpris.player", "a string", "1"),
    ("sinks.mpris", "volume_step = 0.6", "sinks.mpris.volume_step", "a number in (0, 0.5]", "0.6"),
    ("sinks.mpris", "timeout_s = 0", "sinks.mpris.timeout_s", "a number in (0, 30]", "0"),
    ("sinks.cec", 'device = ""', "sinks.cec.device", "a non-empty string", '""'),
    ("sinks.cec", 'tool = "libcec"', "sinks.cec.tool", 'one of "auto", "cec-ctl", "cec-client"', '"libcec"'),
    ("sinks.cec", 'osd_name = "fifteen-chars-x"', "sinks.cec.osd_name",
     "1 to 14 printable ASCII characters", '"fifteen-chars-x"'),
    ("sinks.cec", 'osd_name = "télé"', "sinks.cec.osd_name", "1 to 14 printable ASCII characters",
     '"t\\u00e9l\\u00e9"'),
    ("sinks.cec", "play_target = 16", "sinks.cec.play_target", "an integer in 0..15", "16"),
    ("sinks.cec", 'volume_target = "soundbar"', "sinks.cec.volume_target", 'one of "auto", "tv", "audio"',
     '"soundbar"'),
    ("sinks.cec", "timeout_s = 31", "sinks.cec.timeout_s", "a number in (0, 30]", "31"),
    ("sinks.command", "timeout_s = 301", "sinks.command.timeout_s", "a number in (0, 300]", "301"),
    ("sinks.command.actions", "play = []", "sinks.command.actions.play",
     "a non-empty list of non-empty strings (an argv, no shell)", "[]"),
    ("sinks.command.actions", 'play = "playerctl play"', "sinks.command.actions.play",
     "a non-empty list of non-empty strings (an argv, no shell)", '"playerctl play"'),
    ("sinks.command.actions", 'play = ["playerctl", 1]', "sinks.command.actions.play",
     "a non-empty list of non-empty strings (an argv, no shell)", '["playerctl", 1]'),
    ("logging", 'level = "verbose"', "logging.level", 'one of "debug", "info", "warning", "error"', '"verbose"'),
]


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("table,line,key,expected,got", BAD_VALUES, ids=[c[1] for c in BAD_VALUES])
def test_bad_value_names_file_line_key_and_range(tmp_path, table, line, key, expected, got):
    # Two lines of preamble so the reported line number is not trivially 1.
    text = "# my config\n\n" + (f"[{table}]\n" if table else "") + line + "\n"
    path = write(tmp_path, text)
    line_number = text.splitlines().index(line) + 1
    assert error_of(path) == f"{path}:{line_number}: key '{key}': expected {expected}, got {got}"


@pytest.mark.parametrize("text,key,allowed,line", [
    ("\nfoo = 1\n", "foo", "allowed at the top level: runtime, decision, actions, sinks, logging", 2),
    ("[runtime]\ncam = 0\n", "runtime.cam", "allowed in [runtime]: bundle, source, backend, num_threads, "
     "hop_frames, realtime, status_interval_s, camera_retry_max_s", 2),
    ("[sinks.cec]\ndevice = \"/dev/cec1\"\naddr = 4\n", "sinks.cec.addr",
     "allowed in [sinks.cec]: device, tool, osd_name, play_target, volume_target, timeout_s", 3),
    ("[decision.repeat]\n\ncount = 2\n", "decision.repeat.count",
     "allowed in [decision.repeat]: enabled, gestures, after_s, every_s, max", 3),
    ("[sinks.command.actions]\njump = [\"true\"]\n", "sinks.command.actions.jump",
     "allowed in [sinks.command.actions]: " + ", ".join(ACTIONS), 2),
    ("[sinks]\nenabled = [\"log\"]\n[sinks.mpris]\nplayr = \"vlc\"\n", "sinks.mpris.playr",
     "allowed in [sinks.mpris]: player, volume_step, timeout_s", 4),
])
def test_unknown_key_is_named_with_the_allowed_ones(tmp_path, text, key, allowed, line):
    path = write(tmp_path, text)
    assert error_of(path) == f"{path}:{line}: unknown key '{key}' ({allowed})"


def test_inline_and_dotted_keys_point_at_their_line(tmp_path):
    path = write(tmp_path, "# x\nsinks = { mpris = { volume_step = 0.9 } }\n")
    assert error_of(path).startswith(f"{path}:2: key 'sinks.mpris.volume_step': expected a number in (0, 0.5]")
    path = write(tmp_path, 'logging.level = "info"\ndecision . threshold = 7\n')
    assert error_of(path) == f"{path}:2: key 'decision.threshold': expected a number in (0, 1], got 7"
    # A multi-line string that looks like keys must not confuse the line scanner.
    path = write(tmp_path, '[runtime]\nsource = """\nthreshold = 1\n"""\n[decision]\nthreshold = 3\n')
    assert error_of(path) == f"{path}:6: key 'decision.threshold': expected a number in (0, 1], got 3"


def test_toml_syntax_errors_report_line_and_column(tmp_path):
    path = write(tmp_path, "[runtime]\nnum_threads = 2\nsource = \n")
    message = error_of(path)
    assert message.startswith(f"{path}:3:10: invalid TOML: ")
    path = write(tmp_path, "[decision\n")
    assert error_of(path).startswith(f"{path}:1:")
    path = write(tmp_path, "[runtime]\nbackend = 'auto'\nbackend = 'auto'\n")
    assert error_of(path).startswith(f"{path}:3:")


def test_unreadable_files_are_one_line_errors(tmp_path):
    missing = tmp_path / "missing.toml"
    assert error_of(missing) == f"{missing}: cannot read the config file: no such file"
    assert error_of(tmp_path).endswith("cannot read the config file: it is a directory")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[cec]\nosd_name = "t\xe9l\xe9"\n')
    assert "not UTF-8 text" in error_of(bad)


def test_empty_file_gives_the_defaults(tmp_path):
    path = write(tmp_path, "# nothing\n")
    loaded = load_config(path)
    assert dataclasses.replace(loaded, source_path="") == Config()
    assert loaded.source_path == str(path)


def test_values_land_in_the_right_fields(tmp_path):
    (tmp_path / "models").mkdir()
    path = write(tmp_path, """
[runtime]
bundle = "models/b1"
num_threads = 4
camera_retry_max_s = 5
[decision]
threshold = 0.7
[decision.thresholds]
"Thumbs Up" = 0.9
[decision.repeat]
enabled = true
gestures = ["Thumbs Up"]
max = 3
[actions]
"Stop" = "play_pause"
[sinks]
enabled = ["cec", "command"]
[sinks.cec]
volume_target = "tv"
play_target = 4
[sinks.command.actions]
mute = ["amixer", "set", "Master", "toggle"]
[logging]
level = "debug"
""")
    c = load_config(path)
    assert c.runtime.bundle == str(tmp_path.resolve() / "models" / "b1")  # relative to the config file
    assert c.runtime.num_threads == 4 and c.runtime.camera_retry_max_s == 5.0
    assert isinstance(c.runtime.camera_retry_max_s, float)
    assert c.decision.threshold == 0.7 and c.decision.thresholds == {"Thumbs Up": 0.9}
    assert (c.decision.repeat_enabled, c.decision.repeat_gestures, c.decision.repeat_max) == (True, ("Thumbs Up",), 3)
    assert c.decision.repeat_every_s == Config().decision.repeat_every_s  # untouched default
    assert c.actions == {"Stop": "play_pause"}
    assert c.sinks.enabled == ("cec", "command")
    assert (c.sinks.cec.volume_target, c.sinks.cec.play_target, c.sinks.cec.device) == ("tv", 4, "/dev/cec0")
    assert c.sinks.command.actions == {"mute": ("amixer", "set", "Master", "toggle")}
    assert c.log_level == "debug"


def _schema_paths() -> set[tuple[str, ...]]:
    """Every fixed key the loader knows, as dotted paths (free-form tables: the table itself)."""
    paths: set[tuple[str, ...]] = set()
    tables = {("runtime",): cfg.RUNTIME_CHECKS, ("decision",): cfg.DECISION_CHECKS,
              ("decision", "repeat"): cfg.REPEAT_CHECKS, ("sinks",): cfg.SINKS_CHECKS,
              ("sinks", "mpris"): cfg.MPRIS_CHECKS, ("sinks", "cec"): cfg.CEC_CHECKS,
              ("sinks", "command"): cfg.COMMAND_CHECKS, ("logging",): cfg.LOGGING_CHECKS}
    for prefix, checks in tables.items():
        paths.update(prefix + (key,) for key in checks)
    paths.add(("actions",))
    return paths


def _present(data: dict, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def test_example_config_validates_and_documents_every_key(capsys):
    assert check_config_main([str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == f"{EXAMPLE}: ok\n"
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    missing = [".".join(p) for p in sorted(_schema_paths()) if not _present(data, p)]
    assert not missing, f"config.example.toml lacks {missing}"
    # Every settings field is reachable from some key (no dataclass field the loader forgot).
    c = load_config(EXAMPLE)
    assert c.sinks.command.actions and c.decision.thresholds and c.actions
    # Documented: walking up from any key line over neighbouring key lines reaches a comment.
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            j = i - 1
            while j >= 0 and "=" in lines[j] and not lines[j].lstrip().startswith(("#", "[")):
                j -= 1
            assert j >= 0 and lines[j].lstrip().startswith("#"), f"line {i + 1} has no comment: {line!r}"


def test_check_config_main_reports_errors_on_one_line(tmp_path, capsys):
    path = write(tmp_path, "[sinks.cec]\nplay_target = -1\n")
    assert check_config_main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"{path}:2: key 'sinks.cec.play_target': expected an integer in 0..15, got -1\n"


def test_check_config_main_as_a_process_has_no_traceback(tmp_path):
    path = write(tmp_path, "[runtime]\nnum_threads = 99\n")
    proc = subprocess.run([sys.executable, "-c", "import sys; from edge.config import check_config_main as m; "
                           "sys.exit(m(sys.argv[1:]))", str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"{path}:2: key 'runtime.num_threads': expected an integer in 1..16, got 99"]


def test_find_config_order(tmp_path):
    home = tmp_path / "home"
    system = tmp_path / "etc" / "gesture-edge" / "config.toml"
    env = {"HOME": str(home)}
    assert find_config(environ=env, system_path=system) is None
    system.parent.mkdir(parents=True)
    system.write_text("")
    assert find_config(environ=env, system_path=system) == system
    user = home / ".config" / "gesture-edge" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("")
    assert find_config(environ=env, system_path=system) == user
    # XDG_CONFIG_HOME moves the user file.
    xdg = tmp_path / "xdg" / "gesture-edge" / "config.toml"
    assert find_config(environ={**env, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}, system_path=system) == system
    xdg.parent.mkdir(parents=True)
    xdg.write_text("")
    assert find_config(environ={**env, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}, system_path=system) == xdg
    # --config wins, even over existing files, and even when it does not exist (loading says so).
    explicit = tmp_path / "mine.toml"
    assert find_config(explicit, environ=env, system_path=system) == explicit
    with pytest.raises(ConfigError, match="no such file"):
        load_config(find_config(explicit, environ=env, system_path=system))


def test_validate_gestures_names_unknown_gestures(tmp_path):
    path = write(tmp_path, '[actions]\n"Swipe" = "play"\n"Thumbs up" = "mute"\n')
    c = load_config(path)
    labels = ("Swipe", "Stop", "Thumbs Down", "Thumbs Up", "No gesture")
    with pytest.raises(ConfigError) as info:
        validate_gestures(c, labels)
    assert str(info.value) == (f'{path}:3: key \'actions."Thumbs up"\': the bundle has no gesture "Thumbs up" '
                               f'(its gestures: "Swipe", "Stop", "Thumbs Down", "Thumbs Up", "No gesture")')
    validate_gestures(load_config(EXAMPLE), labels)  # the example only names real gestures
