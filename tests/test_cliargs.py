"""edge.cliargs: the parser class and argument types all five CLIs share, and their one wording."""

from __future__ import annotations

import argparse
import sys

import pytest

from conftest import run_cli
from edge.cliargs import (OneLineParser, add_log_level, add_version, choice_list_arg, int_arg, int_list_arg,
                          non_negative_arg, number_arg, positive_arg, setting_arg, size_arg, span_arg)
from edge.settings import RuntimeSettings


def parse_error(parse, text: str) -> str:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse(text)
    return str(info.value)


def test_types_parse_and_word_errors_like_the_config_checks() -> None:
    assert int_arg(1, 64)("64") == 64
    assert parse_error(int_arg(1, 64), "0") == "expected an integer in 1..64, got '0'"
    assert parse_error(int_arg(1), "x") == "expected a positive integer, got 'x'"
    assert parse_error(int_arg(0), "2.5") == "expected an integer >= 0, got '2.5'"
    assert positive_arg("0.5") == 0.5
    for text in ("0", "-1", "nan", "inf", "fast"):
        assert parse_error(positive_arg, text) == f"expected a number > 0, got '{text}'"
    assert non_negative_arg("0") == 0.0 and parse_error(non_negative_arg, "-0.1").startswith("expected a number >= 0")
    assert number_arg(0, 1, hi_open=True)("0") == 0.0
    assert parse_error(number_arg(0, 1, hi_open=True), "1") == "expected a number in [0, 1), got '1'"
    assert size_arg("120x160") == (120, 160) and size_arg("32X48") == (32, 48)
    for text in ("12x", "8x8", "120"):
        assert parse_error(size_arg, text).endswith(f"e.g. 120x160, got '{text}'")
    assert span_arg("seconds")("2.5,5") == (2.5, 5.0)
    assert parse_error(span_arg("seconds"), "3,1") == "expected MIN,MAX seconds with 0 < MIN <= MAX < 1e+06, got '3,1'"


def test_list_types() -> None:
    threads = int_list_arg(1, 64, "thread counts", "1,2,4")
    assert threads("4,1,4") == (4, 1)
    assert parse_error(threads, "0") == "expected thread counts in 1..64, comma-separated like 1,2,4, got '0'"
    variants = choice_list_arg(("ours", "float"), "variant", unique=True)
    assert variants("float, ours,float") == ("float", "ours")
    assert parse_error(variants, "ours,turbo") == \
        "unknown variant 'turbo': expected a comma-separated list of ours, float"
    assert parse_error(variants, ",") == "expected a comma-separated list of ours, float, got ','"
    gestures = choice_list_arg(("Swipe", "Stop"), "gesture")
    assert gestures("Swipe,Swipe,Stop") == ("Swipe", "Swipe", "Stop")  # an order of gestures may repeat


def test_setting_arg_takes_the_settings_field_check() -> None:
    hop = setting_arg(RuntimeSettings, "hop_frames")
    assert hop("64") == 64
    assert parse_error(hop, "65") == "expected an integer in 1..64, got '65'"
    assert parse_error(setting_arg(RuntimeSettings, "status_interval_s"), "0") == \
        "expected a number in (0, 3600], got '0'"
    with pytest.raises(KeyError, match="no checked field 'hops'"):
        setting_arg(RuntimeSettings, "hops")


def test_parser_errors_are_one_line_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    parser = OneLineParser(prog="tool")
    add_version(parser)
    add_log_level(parser)
    parser.add_argument("--hop", type=int_arg(1, 64))
    assert parser.parse_args([]).log_level == "info"
    for argv, needle in ((["--hop", "0"], "argument --hop: expected an integer in 1..64, got '0'"),
                         (["--log-level", "loud"], "argument --log-level: invalid choice: 'loud'"),
                         (["--frobnicate"], "unrecognized arguments: --frobnicate")):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.count("\n") == 1, err
        assert err.startswith("tool: error: ") and needle in err and err.endswith("(see --help)\n")
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("tool ")


@pytest.mark.parametrize("argv,needle", [
    (["-m", "edge.cli", "run", "--threads", "17"], "gesture-edge run: error: argument --threads: expected an "
                                                   "integer in 1..16, got '17'"),
    (["-m", "edge.bench", "--bundle", "b", "--warmup", "-1"], "gesture-bench latency: error: argument --warmup: "
                                                              "expected an integer >= 0, got '-1'"),
    (["-m", "convert.synth", "clips", "--out", "x", "--train", "1", "--val", "1", "--seed", "-1"],
     "gesture-synth clips: error: argument --seed: expected an integer in 0..9223372036854775807, got '-1'"),
])
def test_the_clis_share_the_wording(argv: list[str], needle: str) -> None:
    proc = run_cli([sys.executable, *argv], timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"{needle} (see --help)"], proc.stderr
