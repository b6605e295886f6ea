"""gesture-bench latency against the design: the floor variant runs exactly one feature call and one batched
step call per frame, ours runs one step call per frame too, and the report sets ours against the floor and
the window against its limit T/hop. Figures are printed, never asserted (shared machine)."""

from __future__ import annotations

import json
import math
import sys

import pytest

from conftest import run_cli


@pytest.mark.parametrize("hop", [2, 3])
def test_floor_ours_and_window_against_the_design(demo_bundle, tmp_path, hop: int) -> None:
    out = tmp_path / "latency.json"
    proc = run_cli([sys.executable, "-m", "edge.bench", "latency", "--bundle", str(demo_bundle), "--synthetic",
                    "--frames", "8", "--hop", str(hop), "--variants", "floor,ours,window", "--no-isolate",
                    "--no-progress", "--json", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout)
    report = json.loads(out.read_text())
    frames_per_clip = report["bundle"]["frames_per_clip"]
    batch = math.ceil(frames_per_clip / hop)
    runs = {r["variant"]: r for r in report["runs"]}
    floor, ours, window = runs["floor"]["invocations"], runs["ours"]["invocations"], runs["window"]["invocations"]
    for inv in (floor, ours):
        assert inv["features_per_frame"] == 1.0 and inv["step_calls_per_frame"] == 1.0
        assert inv["step_per_frame"] == batch  # states stepped, all in that one call
    assert window["step_calls_per_window"] == window["step_per_window"] == frames_per_clip  # batch 1
    assert floor["windows"] == 0 and runs["floor"]["stages"]["decision"] is None
    (design,) = report["against_design"]
    assert design["threads"] == 1 and design["window_limit"] == pytest.approx(frames_per_clip / hop)
    for key in ("ours_over_floor", "window_over_ours"):
        assert set(design[key]) == {"wall", "wall_median_cycle", "cpu"} and design[key]["cpu"] > 0, design
    assert design["ours_over_floor"]["wall"] == pytest.approx(
        runs["ours"]["per_frame_compute_ms"] / runs["floor"]["per_frame_compute_ms"])
    assert design["window_over_ours"]["cpu"] == pytest.approx(
        runs["window"]["cpu_compute_ms_per_frame"] / runs["ours"]["cpu_compute_ms_per_frame"])
    assert "ours@1t: ours / floor (one feature call + one batched step call): " in proc.stdout
    assert f"its limit T/hop = {frames_per_clip}/{hop} = {frames_per_clip / hop:g}x" in proc.stdout
