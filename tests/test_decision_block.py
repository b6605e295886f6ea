"""The bundle's decision block: checked by the manifest loader, applied by the runtime under a config file's
[decision] keys (bundle < config file), written through edge's manifest code without breaking the hashes."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import run_cli
from edge.config import config_from_dict
from edge.manifest import MANIFEST_NAME, Manifest, ManifestError
from edge.settings import Config, DecisionSettings, resolve_decision

BLOCK = {"threshold": 0.9, "thresholds": {"Swipe": 0.7}, "consecutive_windows": 3, "rearm_below": 0.3,
         "cooldown_s": 2.5, "refractory_s": 0.5}


@pytest.fixture()
def bundle_copy(demo_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the session's demo bundle (its manifest gets written)."""
    return Path(shutil.copytree(demo_bundle, tmp_path / "bundle"))


def manifest_with(demo_bundle: Path, block) -> dict:
    data = json.loads((demo_bundle / MANIFEST_NAME).read_text())
    data["decision"] = block
    return data


def test_the_block_is_checked_like_a_config_decision_table(demo_bundle: Path) -> None:
    manifest = Manifest.from_json(manifest_with(demo_bundle, BLOCK), "m.json")
    assert manifest.decision == BLOCK
    assert Manifest.from_json(manifest.to_json(), "again").decision == BLOCK  # round trip
    assert Manifest.from_json(manifest_with(demo_bundle, None), "m.json").decision is None
    bad = [
        ({"threshold": 1.5}, "m.json: field decision.threshold: expected a number in (0, 1], got 1.5"),
        ({"consecutive_windows": 0}, "field decision.consecutive_windows: expected an integer in 1..20, got 0"),
        ({"thresholds": {"Wave": 0.9}}, "field decision.thresholds.Wave: expected a gesture label of this model"),
        ({"thresholds": {"No gesture": 0.9}}, "field decision.thresholds.No gesture: expected a gesture label"),
        ({"repeat": {"gestures": ["Nod"]}}, "field decision.repeat.gestures: expected a gesture label"),
        ({"treshold": 0.9}, "m.json: field decision.treshold: unknown key (allowed: threshold, thresholds"),
        ([0.9], "m.json: field decision: expected an object, got [0.9]"),
    ]
    for block, expected in bad:
        with pytest.raises(ManifestError) as info:
            Manifest.from_json(manifest_with(demo_bundle, block), "m.json")
        text = str(info.value)
        assert expected in text and "\n" not in text, (block, text)


def config(text: str) -> Config:
    return config_from_dict(tomllib.loads(text), source="c.toml", text=text)


def test_precedence_defaults_then_bundle_then_config_file() -> None:
    defaults = DecisionSettings()
    # No block: the config's (here the defaults).
    assert resolve_decision(Config(), None) == defaults
    # A block, no config file: the block, defaults for what it leaves out.
    resolved = resolve_decision(Config(), BLOCK)
    assert (resolved.threshold, resolved.thresholds, resolved.consecutive_windows, resolved.cooldown_s) == \
        (0.9, {"Swipe": 0.7}, 3, 2.5)
    assert resolved.repeat_max == defaults.repeat_max
    # The config file's keys win, field by field; the others stay the bundle's.
    resolved = resolve_decision(config("[decision]\nconsecutive_windows = 2\n[decision.repeat]\nmax = 1\n"), BLOCK)
    assert (resolved.consecutive_windows, resolved.repeat_max, resolved.threshold, resolved.thresholds,
            resolved.rearm_below) == (2, 1, 0.9, {"Swipe": 0.7}, 0.3)
    # Thresholds go as one: a config setting either drops all of the bundle's.
    resolved = resolve_decision(config("[decision]\nthreshold = 0.6\n"), BLOCK)
    assert (resolved.threshold, resolved.thresholds, resolved.cooldown_s) == (0.6, {}, 2.5)
    resolved = resolve_decision(config('[decision.thresholds]\n"Stop" = 0.95\n'), BLOCK)
    assert (resolved.threshold, resolved.thresholds) == (defaults.threshold, {"Stop": 0.95})
    # A config file without [decision] sets no decision key.
    assert config("[runtime]\nhop_frames = 2\n").decision_keys == frozenset()


def test_writing_the_block_keeps_the_bundle_valid(bundle_copy: Path) -> None:
    manifest = Manifest.load(bundle_copy)
    dataclasses.replace(manifest, decision=BLOCK, decision_tuning={"tool": "test"}).write(bundle_copy)
    again = Manifest.load(bundle_copy)
    again.verify_files(bundle_copy)  # the model files' hashes still match: the manifest is not hashed
    assert again.decision == BLOCK and again.decision_tuning == {"tool": "test"}
    assert again.features == manifest.features and again.labels == manifest.labels
    with pytest.raises(ManifestError, match="decision.cooldown_s: expected a number in"):
        dataclasses.replace(again, decision={"cooldown_s": -1}).write(bundle_copy)  # never written
    assert Manifest.load(bundle_copy).decision == BLOCK


@pytest.mark.slow
def test_the_runtime_applies_the_block_under_the_config_file(bundle_copy: Path, tmp_path: Path) -> None:
    from conftest import DEMO_STREAM

    def run(*extra: str):
        proc = run_cli([sys.executable, "-m", "edge.cli", "run", "--bundle", str(bundle_copy), "--source",
                        str(DEMO_STREAM), "--sink", "log", "--max-frames", "120", *extra],
                       env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
        assert proc.returncode == 0, proc.stderr[-3000:]
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()], proc.stderr

    manifest = Manifest.load(bundle_copy)
    dataclasses.replace(manifest, decision=None).write(bundle_copy)  # the built-in defaults
    before, stderr = run()
    assert len(before) == 2  # the first 12 s of the demo stream: Stop, Thumbs Down
    assert "decision settings: the bundle's decision block" not in stderr
    dataclasses.replace(manifest, decision={"consecutive_windows": 20}).write(bundle_copy)
    events, stderr = run()
    assert events == [] and "(20 confident top-1 windows in a row fire)" in stderr.strip().splitlines()[-1]
    assert "decision settings: the bundle's decision block" in stderr
    config = tmp_path / "config.toml"
    config.write_text("[decision]\nconsecutive_windows = 2\n")
    events, stderr = run("--config", str(config))
    assert events == before and "with consecutive_windows from the config file" in stderr


# --- carrying tuned settings into new bundles: tune --save-decision -> gesture-convert --decision -----------

LABELS = ("Swipe", "Stop", "Thumbs Down", "Thumbs Up", "No gesture")


def test_a_decision_file_is_read_from_tune_output_or_a_tuned_manifest(tmp_path: Path) -> None:
    from edge.manifest import read_decision_file

    saved = tmp_path / "decision.json"
    saved.write_text(json.dumps({"decision": BLOCK, "decision_tuning": {"tool": "gesture-bench tune"}}))
    assert read_decision_file(saved, LABELS, "No gesture") == (BLOCK, {"tool": "gesture-bench tune"})
    manifest = tmp_path / "manifest.json"  # a tuned bundle's manifest: everything else in it is ignored
    manifest.write_text(json.dumps({"format_version": 2, "labels": list(LABELS), "decision": BLOCK}))
    assert read_decision_file(manifest, LABELS, "No gesture") == (BLOCK, {})


@pytest.mark.parametrize("content, expected", [
    ("{", "not valid JSON"),
    ('{"labels": []}', 'expected a JSON object with a "decision" block'),
    ('{"decision": {"thresholds": {"Wave": 0.9}}}', "field decision.thresholds.Wave: expected a gesture label "
                                                     "of this model (Swipe, Stop, Thumbs Down, Thumbs Up)"),
    ('{"decision": {"threshold": 2}}', "field decision.threshold: expected a number in (0, 1], got 2"),
    ('{"decision": {"colour": 1}}', "unknown key"),
    ('{"decision": {}, "decision_tuning": 3}', "field decision_tuning: expected a JSON object, got int"),
])
def test_a_bad_decision_file_is_one_line_naming_it(tmp_path: Path, content: str, expected: str) -> None:
    from edge.manifest import read_decision_file

    path = tmp_path / "d.json"
    path.write_text(content)
    with pytest.raises(ManifestError) as info:
        read_decision_file(path, LABELS, "No gesture")
    assert str(info.value).startswith(f"{path}: ") and expected in str(info.value) and "\n" not in str(info.value)


def test_tune_save_decision_writes_what_convert_reads(tmp_path: Path) -> None:
    from edge.bench.tune import save_decision
    from edge.manifest import read_decision_file

    report = {"created": "2026-11-30T00:00:00", "settings": {"max_false_per_hour": 1.0, "hop_frames": 2,
                                                           "max_lag_s": 1.5},
              "footage": [{"name": "a.mp4"}], "split": "halves", "chosen": {"tuning": {"exact": 3},
                                                                            "held_out": {"exact": 2}}}
    chosen = DecisionSettings(threshold=0.9, thresholds={"Swipe": 0.7}, smooth_windows=2, consecutive_windows=3,
                              rearm_below=0.3, cooldown_s=2.5, refractory_s=0.5)
    path = save_decision(tmp_path / "decision.json", chosen, report)
    block, tuning = read_decision_file(path, LABELS, "No gesture")
    assert block == {**BLOCK, "smooth_windows": 2}
    assert tuning["held_out"] == {"exact": 2} and tuning["max_false_per_hour"] == 1.0
