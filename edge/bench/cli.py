"""gesture-bench: is it fast enough on this board, and will it fire when it should not?

    gesture-bench [latency] --bundle DIR [--source SRC | --synthetic] [--frames N] [--warmup N]
                  [--threads 1,2,4] [--variants floor,ours,float,window,keras,mediapipe] [--keras-model PATH]
                  [--smoke] [--json FILE] [--markdown FILE] [--plot FILE.png]
    gesture-bench events --bundle DIR STREAM.mp4 [STREAM.mp4 ...]   (or: gesture-bench --events STREAM ...)
    gesture-bench rss --bundle DIR [--source SRC]
    gesture-bench agreement --bundle DIR STREAM.mp4 [STREAM.mp4 ...]
    gesture-bench tune --bundle DIR --gestures STREAM... --background FOOTAGE... --max-false-per-hour X
                  [--save-to-bundle] [--plot FILE.png]

`latency` (the default) times every stage of the per-frame path for five variants side by side on the same
frames, with the floor of our design (one feature call + one batched step call) and ratios by wall clock and
CPU time, in the app's stages (capture, preprocess, features, steps, decision, dispatch; see
`edge.bench.latency`); `events` runs the full runtime over streams with ground truth and scores
the emitted actions (see `edge.bench.events`, `edge.metrics`); `rss` runs `gesture-edge run` in a child
process and reads its peak RSS; `agreement` measures how closely the integer models follow the bundle's float
references on streams, and which of the two models loses what (see `edge.bench.agreement`); `tune` searches the
decision settings for the best exact rate within a false-action budget and reports them on held-out footage
(see `edge.bench.tune`).

Runs on a Pi without TensorFlow: TensorFlow/Keras and mediapipe are imported only inside the variant that
uses them, and matplotlib only for --plot. Figures are printed, never asserted.

Exit status: 0 done; 1 a requested variant failed to run (tune: no setting within the budget); 2 bad input.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.bench import BenchError
from edge.bench.latency import DEFAULT_STREAM, MEDIAPIPE_VERSION, SMOKE_LEFT_OUT, VARIANTS, LatencySettings
from edge.cliargs import (EXIT_USAGE, OneLineParser, add_log_level, add_version, choice_list_arg, int_arg,
                          int_list_arg, non_negative_arg)
from edge.settings import BACKENDS
from edge.vocab import PRECISIONS

logger = logging.getLogger(__name__)

PROG = "gesture-bench"
COMMANDS = ("latency", "events", "rss", "agreement", "tune")
EXIT_OK, EXIT_FAILED = 0, 1
SMOKE_FRAMES = 12
"""Measured frames in --smoke: enough for 6 window decisions at hop 2, a few seconds in all."""
THREADS_ARG = int_list_arg(1, 64, "thread counts", "1,2,4")
VARIANTS_ARG = choice_list_arg(VARIANTS, "variant", unique=True)


def _common(parser: argparse.ArgumentParser, decisions: bool = True) -> None:
    """Options of the sub-commands that run the bundle; `decisions`: also --config and --plot."""
    parser.add_argument("--bundle", type=Path, required=True, metavar="DIR",
                        help="bundle folder made by gesture-convert")
    parser.add_argument("--backend", default="auto", choices=BACKENDS, help="TFLite runtime (default auto)")
    parser.add_argument("--hop", dest="hop_frames", type=int_arg(1), default=2, metavar="FRAMES",
                        help="a new recurrent state (and window) every this many frames (default 2)")
    if decisions:
        parser.add_argument("--config", type=Path, metavar="FILE",
                            help="gesture-edge config file for decision settings and actions (default: built-in)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure as JSON")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the tables as markdown")
    if decisions:
        parser.add_argument("--plot", type=Path, metavar="FILE.png", help="plot the distributions (needs matplotlib)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress lines on stderr")
    add_log_level(parser, default="warning")


def build_parser() -> argparse.ArgumentParser:
    """The full parser: sub-commands latency (default), events, rss."""
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog="Without a sub-command, 'latency' is assumed; '--events STREAM...' means 'events'.")
    add_version(parser)
    sub = parser.add_subparsers(dest="command", metavar="{latency,events,rss,agreement,tune}",
                                parser_class=OneLineParser)

    latency = sub.add_parser("latency", help="per-stage latency and cost of five variants and the design's floor "
                                                "on the same frames")
    _common(latency)
    source = latency.add_mutually_exclusive_group()
    source.add_argument("--source", metavar="SRC",
                        help=f"video file or folder of frames (default: {DEFAULT_STREAM} in the working "
                             "directory when there, else --synthetic)")
    source.add_argument("--synthetic", action="store_true", help="deterministic random frames, no video")
    latency.add_argument("--frames", type=int_arg(1), default=200, metavar="N",
                         help="measured frames per variant (default 200)")
    latency.add_argument("--warmup", type=int_arg(0), metavar="N",
                         help="frames run before measuring (default: the bundle's frames per clip)")
    latency.add_argument("--threads", type=THREADS_ARG, default=(1,), metavar="1,2,4",
                         help="interpreter thread counts to measure (default 1)")
    latency.add_argument("--variants", type=VARIANTS_ARG, default=None, metavar=",".join(VARIANTS),
                         help="variants to run (default: all; those not installed are reported as skipped)")
    latency.add_argument("--keras-model", type=Path, metavar="PATH",
                         help="Keras clip model for the keras variant; its classes must be the bundle's labels "
                              "(default: the model the bundle was converted from, as its manifest records)")
    latency.add_argument("--peer-python", metavar="PYTHON",
                         help=f"interpreter with mediapipe=={MEDIAPIPE_VERSION} for the mediapipe variant "
                              "(e.g. a separate venv's bin/python)")
    latency.add_argument("--no-isolate", dest="isolate", action="store_false",
                         help="run every variant in this process (faster; peak RSS is then the process's)")
    latency.add_argument("--smoke", action="store_true",
                         help=f"a few seconds in all: {SMOKE_FRAMES} frames, 1 thread, every available variant "
                              f"but {', '.join(SMOKE_LEFT_OUT)} (unless --variants names it)")

    events = sub.add_parser("events", help="event-level accuracy of the full runtime on streams with ground truth")
    _common(events)
    events.add_argument("streams", nargs="+", type=Path, metavar="STREAM",
                        help="video files, each with NAME.truth.json beside it")
    events.add_argument("--threads", type=int_arg(1), default=2, metavar="N", help="interpreter threads (default 2)")
    events.add_argument("--max-lag-s", type=non_negative_arg, default=None, metavar="S",
                        help="an event counts for a gesture until this long after its end (default 1.5)")
    events.add_argument("--precision", choices=PRECISIONS, default="int8",
                        help="int8: the bundle's integer models (default); float: its float/ references")

    rss = sub.add_parser("rss", help="peak RSS of 'gesture-edge run' on a stream, in a child process")
    rss.add_argument("--bundle", type=Path, required=True, metavar="DIR", help="bundle folder made by gesture-convert")
    rss.add_argument("--source", metavar="SRC",
                     help=f"video file (default: {DEFAULT_STREAM} in the working directory)")
    rss.add_argument("--config", type=Path, metavar="FILE", help="config file passed to gesture-edge run")
    rss.add_argument("--edge-args", default="", metavar="'ARGS'",
                     help="extra arguments for gesture-edge run, one shell-quoted string")
    rss.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    rss.add_argument("--markdown", type=Path, metavar="FILE", help="write the figures as markdown")
    add_log_level(rss, default="warning")

    agreement = sub.add_parser("agreement", help="top-1 agreement of the integer models with the float references "
                                                 "on streams, per model")
    _common(agreement, decisions=False)
    agreement.add_argument("streams", nargs="+", type=Path, metavar="STREAM", help="video files")
    agreement.add_argument("--threads", type=int_arg(1), default=2, metavar="N",
                           help="interpreter threads (default 2)")

    tune = sub.add_parser("tune", help="decision settings with the best exact rate within a false-action budget, "
                                       "reported on held-out footage")
    _common(tune)
    tune.add_argument("--gestures", nargs="+", type=Path, required=True, metavar="STREAM",
                      help="gesture streams, each with NAME.truth.json beside it")
    tune.add_argument("--background", nargs="+", type=Path, required=True, metavar="FOOTAGE",
                      help="footage without gestures (videos or folders of frames): every event there is false")
    tune.add_argument("--max-false-per-hour", type=non_negative_arg, required=True, metavar="X",
                      help="the budget: false actions per hour of background footage")
    tune.add_argument("--threads", type=int_arg(1), default=2, metavar="N", help="interpreter threads (default 2)")
    tune.add_argument("--max-lag-s", type=non_negative_arg, default=None, metavar="S",
                      help="an event counts for a gesture until this long after its end (default 1.5)")
    tune.add_argument("--save-to-bundle", action="store_true",
                      help="write the chosen settings into the bundle's manifest (its decision block, which "
                           "gesture-edge run applies under a config file's [decision])")
    tune.add_argument("--save-decision", type=Path, metavar="FILE.json",
                      help="also write the chosen settings to FILE.json, for gesture-convert --decision (or as "
                           "decision.json beside the model: every bundle converted from it then carries them)")
    return parser


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """`--events S...` -> `events S...`; no sub-command -> `latency` (top-level --help/--version kept)."""
    args = list(argv)
    if args and args[0] in COMMANDS:
        return args
    if "--events" in args:
        index = args.index("--events")
        return ["events", *args[:index], *args[index + 1:]]
    if not args or args[0] in ("-h", "--help", "--version"):
        return args
    return ["latency", *args]


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (console script gesture-bench)."""
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(normalise_argv(raw))
    args.command_line = " ".join(shlex.quote(a) for a in [PROG, *raw])
    if args.command is None:
        build_parser().print_help()
        return EXIT_USAGE
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from edge.bench.output import PlotUnavailable

    try:
        if args.command == "latency":
            return _latency(args)
        if args.command == "events":
            return _events(args)
        if args.command == "agreement":
            return _agreement(args)
        if args.command == "tune":
            return _tune(args)
        return _rss(args)
    except (BenchError, PlotUnavailable) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _check_outputs(args: argparse.Namespace) -> None:
    for option in ("json", "markdown", "plot"):
        path = getattr(args, option, None)
        if path is not None and not path.parent.is_dir():
            raise BenchError(f"--{option} {path}: folder {path.parent} does not exist")
    if getattr(args, "plot", None) is not None:
        from edge.bench.output import import_pyplot

        import_pyplot()  # fail before the long run, not after it


def _check_bundle(path: Path) -> None:
    from edge.manifest import Manifest, ManifestError

    try:
        Manifest.load(path).verify_files(path)
    except ManifestError as exc:
        raise BenchError(str(exc)) from None


def _latency(args: argparse.Namespace) -> int:
    from edge.bench.latency import run_latency
    from edge.bench.render import latency_markdown, latency_plot, latency_text

    _check_outputs(args)
    _check_bundle(args.bundle)
    frames, threads, warmup = args.frames, args.threads, args.warmup
    if args.smoke:
        frames, threads = SMOKE_FRAMES, (1,)
    settings = LatencySettings(
        bundle=args.bundle, source=args.source, synthetic=args.synthetic, frames=frames, warmup=warmup,
        threads=threads, variants=args.variants, keras_model=args.keras_model, hop_frames=args.hop_frames,
        backend=args.backend, isolate=args.isolate, peer_python=args.peer_python, config=args.config,
        smoke=args.smoke, progress=args.progress,
    )
    report = run_latency(settings)
    report["command"] = args.command_line
    return _emit(args, report, latency_text, latency_markdown, latency_plot,
                 failed=any(r.get("status") == "failed" for r in report["runs"]))


def _events(args: argparse.Namespace) -> int:
    from edge.bench.events import EventsSettings, run_events
    from edge.bench.render import events_markdown, events_plot, events_text
    from edge.metrics import DEFAULT_MAX_LAG_S

    _check_outputs(args)
    _check_bundle(args.bundle)
    settings = EventsSettings(
        bundle=args.bundle, streams=tuple(args.streams), threads=args.threads, hop_frames=args.hop_frames,
        backend=args.backend, config=args.config, progress=args.progress,
        max_lag_s=DEFAULT_MAX_LAG_S if args.max_lag_s is None else args.max_lag_s,
        keep_windows=args.plot is not None, precision=args.precision,
    )
    report = run_events(settings)
    report["command"] = args.command_line
    return _emit(args, report, events_text, events_markdown, events_plot, failed=False)


def _rss(args: argparse.Namespace) -> int:
    from edge.bench.render import rss_markdown, rss_text
    from edge.bench.rss import RssSettings, run_rss

    _check_outputs(args)
    _check_bundle(args.bundle)
    try:
        extra = tuple(shlex.split(args.edge_args))
    except ValueError as exc:
        raise BenchError(f"--edge-args: {exc}") from None
    report = run_rss(RssSettings(bundle=args.bundle, source=args.source, config=args.config, edge_args=extra))
    report["command"] = args.command_line
    args.plot = None
    return _emit(args, report, rss_text, rss_markdown, None, failed=report.get("returncode") != 0)


def _agreement(args: argparse.Namespace) -> int:
    from edge.bench.agreement import AgreementSettings, agreement_markdown, agreement_text, run_agreement

    _check_outputs(args)
    _check_bundle(args.bundle)
    report = run_agreement(AgreementSettings(bundle=args.bundle, streams=tuple(args.streams),
                                             hop_frames=args.hop_frames, threads=args.threads,
                                             backend=args.backend, progress=args.progress))
    report["command"] = args.command_line
    return _emit(args, report, agreement_text, agreement_markdown, None, failed=False)


def _tune(args: argparse.Namespace) -> int:
    from edge.bench.tune import TuneSettings, run_tune, tune_markdown, tune_plot, tune_text
    from edge.metrics import DEFAULT_MAX_LAG_S

    _check_outputs(args)
    _check_bundle(args.bundle)
    settings = TuneSettings(
        bundle=args.bundle, gestures=tuple(args.gestures), background=tuple(args.background),
        max_false_per_hour=args.max_false_per_hour, threads=args.threads, hop_frames=args.hop_frames,
        backend=args.backend, config=args.config, progress=args.progress,
        max_lag_s=DEFAULT_MAX_LAG_S if args.max_lag_s is None else args.max_lag_s,
        save_to_bundle=args.save_to_bundle, save_decision=args.save_decision)
    report = run_tune(settings)
    report["command"] = args.command_line
    return _emit(args, report, tune_text, tune_markdown, tune_plot, failed=report["chosen"] is None)


def _emit(args: argparse.Namespace, report: dict[str, Any], text: Any, markdown: Any, plot: Any,
          failed: bool) -> int:
    from edge.bench.output import write_json
    from edge.fileio import write_text_atomic

    print(text(report), flush=True)
    if args.json is not None:
        write_json(args.json, report)
        logger.info("wrote %s", args.json)
    if args.markdown is not None:
        write_text_atomic(args.markdown, markdown(report))
        logger.info("wrote %s", args.markdown)
    if getattr(args, "plot", None) is not None and plot is not None:
        plot(report, args.plot)
        logger.info("wrote %s", args.plot)
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
