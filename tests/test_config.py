"""edge.config: every key's bad value, unknown keys, syntax errors, the example config, the search order."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from edge import config as cfg
from edge.cli import main as edge_main
from edge.config import ConfigError, find_config, load_config, validate_gestures
from edge.settings import Config, RuntimeSettings
from edge.validate import Integer, Invalid, SchemaError, checked, field_specs, key_paths, read_fields, section
from edge.vocab import ACTIONS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "systemd" / "config.example.toml"

OSD_EXPECTED = ("0 to 13 printable ASCII characters and no comma (a CEC OSD string; cec-ctl splits its arguments "
                "at commas)")
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
    ("runtime", 'precision = "int16"', "runtime.precision", 'one of "int8", "float"', '"int16"'),
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
     'a non-empty list of distinct values from "log", "mpris", "cec", "command", "speak"', "[]"),
    ("sinks", 'enabled = ["log", "log"]', "sinks.enabled",
     'a non-empty list of distinct values from "log", "mpris", "cec", "command", "speak"', '["log", "log"]'),
    ("sinks", 'enabled = ["tv"]', "sinks.enabled",
     'a non-empty list of distinct values from "log", "mpris", "cec", "command", "speak"', '["tv"]'),
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
    ("sinks.mpris", "resume_window_s = -1", "sinks.mpris.resume_window_s", "a number in [0, 86400]", "-1"),
    ("sinks.cec", 'osd = "yes"', "sinks.cec.osd", "true or false", '"yes"'),
    ("sinks.cec.osd_texts", 'play = "Play, now"', "sinks.cec.osd_texts.play", OSD_EXPECTED, '"Play, now"'),
    ("sinks.cec.osd_texts", 'play = "Fourteen chars"', "sinks.cec.osd_texts.play", OSD_EXPECTED,
     '"Fourteen chars"'),
    ("sinks.cec.osd_texts", 'play = "Lecture \u25b6"', "sinks.cec.osd_texts.play", OSD_EXPECTED,
     '"Lecture \\u25b6"'),
    ("sinks.speak", 'texts = "play"', "sinks.speak.texts", "a table", '"play"'),
    ("sinks.speak.texts", 'play = "la\\nla"', "sinks.speak.texts.play",
     "at most 100 characters and no control characters", '"la\\nla"'),
    ("sinks.speak", 'voice = "-w /tmp/x"', "sinks.speak.voice",
     'an espeak-ng voice name such as "en" or "en-us+f3"', '"-w /tmp/x"'),
    ("sinks.speak", "speed_wpm = 79", "sinks.speak.speed_wpm", "an integer in 80..450", "79"),
    ("sinks.speak", "amplitude = 201", "sinks.speak.amplitude", "an integer in 0..200", "201"),
    ("sinks.speak", "device = 0", "sinks.speak.device", "a string", "0"),
    ("sinks.speak", "timeout_s = 0", "sinks.speak.timeout_s", "a number in (0, 30]", "0"),
    ("sinks.command.actions", "play = []", "sinks.command.actions.play",
     "a non-empty list of non-empty strings (an argv, no shell)", "[]"),
    ("sinks.command.actions", 'play = "playerctl play"', "sinks.command.actions.play",
     "a non-empty list of non-empty strings (an argv, no shell)", '"playerctl play"'),
    ("sinks.command.actions", 'play = ["playerctl", 1]', "sinks.command.actions.play",
     "a non-empty list of non-empty strings (an argv, no shell)", '["playerctl", 1]'),
    ("logging", 'level = "verbose"', "logging.level", 'one of "debug", "info", "warning", "error"', '"verbose"'),
]


def check_config_main(argv: list[str]) -> int:
    """`gesture-edge check-config --no-bundle FILE` in process (the file alone: no bundle needed)."""
    return edge_main(["check-config", "--no-bundle", *argv])


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
     "hop_frames, realtime, status_interval_s, camera_retry_max_s, precision", 2),
    ("[sinks.cec]\ndevice = \"/dev/cec1\"\naddr = 4\n", "sinks.cec.addr",
     "allowed in [sinks.cec]: device, tool, osd_name, play_target, volume_target, timeout_s, osd, osd_texts", 3),
    ("[decision.repeat]\n\ncount = 2\n", "decision.repeat.count",
     "allowed in [decision.repeat]: enabled, gestures, after_s, every_s, max", 3),
    ("[sinks.command.actions]\njump = [\"true\"]\n", "sinks.command.actions.jump",
     "allowed in [sinks.command.actions]: " + ", ".join(ACTIONS), 2),
    ("[sinks]\nenabled = [\"log\"]\n[sinks.mpris]\nplayr = \"vlc\"\n", "sinks.mpris.playr",
     "allowed in [sinks.mpris]: player, volume_step, timeout_s, resume_window_s", 4),
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


def _example_with_defaults() -> str:
    """The example config with its commented defaults ("#: key = value" lines) uncommented."""
    return re.sub(r"^#: ", "", EXAMPLE.read_text(encoding="utf-8"), flags=re.M)


def _missing_from_example(config_class: type = Config) -> list[str]:
    """The keys of `config_class`'s fields (walked from the settings dataclasses) the example config lacks
    (as keys or as commented defaults)."""
    data = tomllib.loads(_example_with_defaults())
    return [".".join(p) for p in key_paths(config_class) if not _present(data, p)]


def _present(data: dict, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def test_feedback_is_off_by_default_and_the_example_lists_the_default_texts():
    from edge.settings import OSD_TEXTS, SPEECH_TEXTS

    c = load_config(EXAMPLE)
    assert (c.sinks.cec.osd, "speak" in c.sinks.enabled) == (False, False)
    assert (Config().sinks.cec.osd, "speak" in Config().sinks.enabled) == (False, False)
    assert c.sinks.cec.osd_texts == OSD_TEXTS and c.sinks.speak.texts == SPEECH_TEXTS
    assert c.sinks.mpris.resume_window_s == Config().sinks.mpris.resume_window_s == 600.0


def test_example_config_validates_and_documents_every_key(capsys, tmp_path):
    assert check_config_main([str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == f"{EXAMPLE}: ok\n"
    missing = _missing_from_example()
    assert not missing, f"config.example.toml lacks {missing}"
    assert cfg.schema_paths() == key_paths(Config)  # the reader reads exactly the fields' keys
    c = load_config(EXAMPLE)
    assert c.sinks.command.actions and c.actions
    # The decision keys are commented defaults: as shipped the file overrides no tuned bundle block...
    assert c.decision == Config().decision and not c.decision_keys
    # ...and uncommented they are valid and equal the built-in defaults.
    uncommented = tmp_path / "uncommented.toml"
    uncommented.write_text(_example_with_defaults(), encoding="utf-8")
    d = load_config(uncommented).decision
    assert d == dataclasses.replace(Config().decision, thresholds=d.thresholds) and d.thresholds
    # Documented: walking up from any key line over neighbouring key lines reaches a comment.
    lines = _example_with_defaults().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            j = i - 1
            while j >= 0 and "=" in lines[j] and not lines[j].lstrip().startswith(("#", "[")):
                j -= 1
            assert j >= 0 and lines[j].lstrip().startswith("#"), f"line {i + 1} has no comment: {line!r}"


def _settings_fields(cls: type = Config) -> list[tuple[type, str]]:
    """Every (dataclass, field) of the settings tree, found by dataclasses alone (not the schema's own walk)."""
    found = []
    for f in dataclasses.fields(cls):
        value = getattr(cls(), f.name)
        if dataclasses.is_dataclass(value):
            found += _settings_fields(type(value))
        else:
            found.append((cls, f.name))
    return found


def test_every_settings_field_is_read_from_a_key():
    # By construction: the reader walks the declared fields, so each declared field has a key.
    # The fields no key sets: the program fills them in (a new one has to be added here on purpose).
    not_from_the_file = {(Config, "source_path"), (Config, "decision_keys")}
    fields = _settings_fields()
    assert len(fields) == len(key_paths(Config)) + len(not_from_the_file)
    for cls, name in fields:
        declared = {spec.name for spec in field_specs(cls)}
        assert name in declared or (cls, name) in not_from_the_file, f"{cls.__name__}.{name} has no key"


def test_a_new_setting_is_one_edit_and_an_undeclared_one_is_caught(tmp_path):
    @dataclasses.dataclass(frozen=True)
    class Undeclared(RuntimeSettings):
        new_knob: int = 3

    @dataclasses.dataclass(frozen=True)
    class UndeclaredConfig(Config):
        runtime: Undeclared = section(Undeclared)

    # A field without checked()/section()/computed() fails the example test and every read, naming itself.
    with pytest.raises(SchemaError, match=r"Undeclared\.new_knob"):
        _missing_from_example(UndeclaredConfig)
    with pytest.raises(SchemaError, match=r"Undeclared\.new_knob"):
        read_fields(UndeclaredConfig, {})

    @dataclasses.dataclass(frozen=True)
    class Declared(RuntimeSettings):
        new_knob: int = checked(Integer(1, 9), default=3)

    @dataclasses.dataclass(frozen=True)
    class DeclaredConfig(Config):
        runtime: Declared = section(Declared)

    # Declared once, on its field: the reader takes it, and the example test asks for its documentation.
    assert set(_missing_from_example(DeclaredConfig)) - set(_missing_from_example()) == {"runtime.new_knob"}
    assert read_fields(DeclaredConfig, {"runtime": {"new_knob": 4}})["runtime"].new_knob == 4
    with pytest.raises(Invalid) as info:
        read_fields(DeclaredConfig, {"runtime": {"new_knob": 10}})
    assert str(info.value) == "runtime.new_knob: expected an integer in 1..9, got 10"


def test_check_config_main_reports_errors_on_one_line(tmp_path, capsys):
    path = write(tmp_path, "[sinks.cec]\nplay_target = -1\n")
    assert check_config_main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"{path}:2: key 'sinks.cec.play_target': expected an integer in 0..15, got -1\n"


def test_check_config_main_as_a_process_has_no_traceback(tmp_path):
    path = write(tmp_path, "[runtime]\nnum_threads = 99\n")
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "check-config", "--no-bundle", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
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


# -- what fault injection found (issue 15) -------------------------------------------------------------------


def test_a_nul_character_anywhere_is_refused(tmp_path):
    path = write(tmp_path, '[sinks.command.actions]\nplay = ["playerctl", "pl\\u0000ay"]\n')
    assert error_of(path) == (f"{path}:2: key 'sinks.command.actions.play': expected text without NUL characters, "
                              f'got "pl\\u0000ay"')
    path = write(tmp_path, '[runtime]\nsource = "/tmp/a\\u0000b.mp4"\n')
    assert error_of(path).startswith(f"{path}:2: key 'runtime.source': expected text without NUL characters")
    path = write(tmp_path, '[actions]\n"Swipe\\u0000" = "play"\n')
    assert "expected text without NUL characters" in error_of(path)


def test_unparsable_and_oversized_files_are_config_errors(tmp_path):
    path = write(tmp_path, "a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert error_of(path) == f"{path}: invalid TOML: arrays or tables nested too deeply to parse"
    path = write(tmp_path, "x = 1\n" + "# padding\n" * 120_000)
    assert error_of(path) == f"{path}: cannot read the config file: larger than 1 MiB: not a file of this kind"
    assert error_of(Path("/dev/null")) == ("/dev/null: cannot read the config file: not a regular file "
                                           "(a character device)")


def test_relative_paths_are_relative_to_the_config_files_folder(tmp_path, monkeypatch):
    folder = tmp_path / "etc" / "gesture-edge"
    folder.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    cases = {"footage/room.mp4": str(folder / "footage" / "room.mp4"), "/srv/room.mp4": "/srv/room.mp4",
             "~/room.mp4": str(Path.home() / "room.mp4"), "picamera2": "picamera2", "cam:1": "cam:1",
             "/dev/video2": "/dev/video2", "rtsp://camera/stream": "rtsp://camera/stream"}
    for source, expected in cases.items():
        path = write(folder, f'[runtime]\nbundle = "models/bundle"\nsource = "{source}"\n')
        runtime = load_config(path).runtime
        assert (runtime.bundle, runtime.source) == (str(folder / "models" / "bundle"), expected), source


def test_the_default_source_is_the_documented_one():
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert RuntimeSettings().source == example["runtime"]["source"] == "picamera2"
    for doc in (ROOT / "docs" / "RASPBERRY_PI.md", ROOT / "README.md"):
        text = doc.read_text(encoding="utf-8")
        assert "relative to the config file's folder" in text and "the default is `picamera2`" in text, doc


def test_the_background_class_cannot_carry_out_an_action(tmp_path):
    labels = ("Swipe", "Stop", "Thumbs Down", "Thumbs Up", "No gesture")
    path = write(tmp_path, '[actions]\n"No gesture" = "play"\n')
    with pytest.raises(ConfigError) as info:
        validate_gestures(load_config(path), labels, "No gesture")
    assert str(info.value) == (f'{path}:2: key \'actions."No gesture"\': "No gesture" is the bundle\'s background '
                               f'class (no gesture at all), not a gesture (its gestures: "Swipe", "Stop", '
                               f'"Thumbs Down", "Thumbs Up")')
    path = write(tmp_path, '[decision.repeat]\nenabled = true\ngestures = ["No gesture"]\n')
    with pytest.raises(ConfigError, match="background class"):
        validate_gestures(load_config(path), labels, "No gesture")
    path = write(tmp_path, '[decision.thresholds]\n"No gesture" = 0.9\n')
    validate_gestures(load_config(path), labels, "No gesture")  # a threshold is allowed (and unused)
