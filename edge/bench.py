"""gesture-bench: is it fast enough on this board, and will it fire when it should not?

    gesture-bench [latency] --bundle DIR [--source SRC | --synthetic] [--frames N] [--warmup N]
                  [--threads 1,2,4] [--variants ours,float,window,keras,mediapipe] [--keras-model PATH]
                  [--smoke] [--json FILE] [--markdown FILE] [--plot FILE.png]
    gesture-bench events --bundle DIR STREAM.mp4 [STREAM.mp4 ...]   (or: gesture-bench --events STREAM ...)
    gesture-bench rss --bundle DIR [--source SRC]
    gesture-bench agreement --bundle DIR STREAM.mp4 [STREAM.mp4 ...]

`latency` (the default) times every stage of the per-frame path for five variants side by side on the same
frames (see `edge.bench_latency`); `events` runs the full runtime over streams with ground truth and scores
the emitted actions (see `edge.bench_events`, `edge.metrics`); `rss` runs `gesture-edge run` in a child
process and reads its peak RSS; `agreement` measures how closely the integer models follow the bundle's float
references on streams, and which of the two models loses what (see `edge.bench_agreement`).

Runs on a Pi without TensorFlow: TensorFlow/Keras and mediapipe are imported only inside the variant that
uses them, and matplotlib only for --plot. Figures are printed, never asserted.

Exit status: 0 done; 1 a requested variant failed to run; 2 bad input.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from edge import __version__
from edge.bench_latency import MEDIAPIPE_VERSION, VARIANTS, BenchError, LatencySettings

logger = logging.getLogger(__name__)

PROG = "gesture-bench"
COMMANDS = ("latency", "events", "rss", "agreement")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SMOKE_FRAMES = 12
"""Measured frames in --smoke: enough for 6 window decisions at hop 2, a few seconds in all."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump), as every CLI of the project."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got '{text}'")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got '{text}'") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got '{text}'")
    return value


def _threads(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected thread counts like 1,2,4, got '{text}'") from None
    if not values or any(not 1 <= v <= 64 for v in values):
        raise argparse.ArgumentTypeError(f"expected thread counts in 1..64 like 1,2,4, got '{text}'")
    return tuple(dict.fromkeys(values))


def _variants(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown variant '{unknown[0] if unknown else text}': expected a "
                                         f"comma-separated list of {', '.join(VARIANTS)}")
    return tuple(dict.fromkeys(names))


def _common(parser: argparse.ArgumentParser, decisions: bool = True) -> None:
    """Options of the sub-commands that run the bundle; `decisions`: also --config and --plot."""
    parser.add_argument("--bundle", type=Path, required=True, metavar="DIR", help="bundle folder made by gesture-convert")
    parser.add_argument("--backend", default="auto", choices=("auto", "ai_edge_litert", "tflite_runtime", "tensorflow"),
                        help="TFLite runtime (default auto)")
    parser.add_argument("--hop", dest="hop_frames", type=_positive_int, default=2, metavar="FRAMES",
                        help="a new recurrent state (and window) every this many frames (default 2)")
    if decisions:
        parser.add_argument("--config", type=Path, metavar="FILE",
                            help="gesture-edge config file for decision settings and actions (default: built-in)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure as JSON")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the tables as markdown")
    if decisions:
        parser.add_argument("--plot", type=Path, metavar="FILE.png", help="plot the distributions (needs matplotlib)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress lines on stderr")
    parser.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))


def build_parser() -> argparse.ArgumentParser:
    """The full parser: sub-commands latency (default), events, rss."""
    parser = _Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="Without a sub-command, 'latency' is assumed; '--events STREAM...' means 'events'.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{latency,events,rss,agreement}", parser_class=_Parser)

    latency = sub.add_parser("latency", help="per-stage latency and cost of five variants on the same frames")
    _common(latency)
    source = latency.add_mutually_exclusive_group()
    source.add_argument("--source", metavar="SRC",
                        help="video file or folder of frames (default: demo/streams/demo.mp4 when present)")
    source.add_argument("--synthetic", action="store_true", help="deterministic random frames, no video")
    latency.add_argument("--frames", type=_positive_int, default=200, metavar="N",
                         help="measured frames per variant (default 200)")
    latency.add_argument("--warmup", type=_non_negative_int, metavar="N",
                         help="frames run before measuring (default: the bundle's frames per clip)")
    latency.add_argument("--threads", type=_threads, default=(1,), metavar="1,2,4",
                         help="interpreter thread counts to measure (default 1)")
    latency.add_argument("--variants", type=_variants, default=VARIANTS, metavar=",".join(VARIANTS),
                         help="variants to run (default: all; those not installed are reported as skipped)")
    latency.add_argument("--keras-model", type=Path, metavar="PATH",
                         help="Keras clip model for the keras variant (default models/demo/model.keras)")
    latency.add_argument("--peer-python", metavar="PYTHON",
                         help=f"interpreter with mediapipe=={MEDIAPIPE_VERSION} for the mediapipe variant "
                              "(e.g. a separate venv's bin/python)")
    latency.add_argument("--no-isolate", dest="isolate", action="store_false",
                         help="run every variant in this process (faster; peak RSS is then the process's)")
    latency.add_argument("--smoke", action="store_true",
                         help=f"a few seconds in all: {SMOKE_FRAMES} frames, 1 thread, every available variant")

    events = sub.add_parser("events", help="event-level accuracy of the full runtime on streams with ground truth")
    _common(events)
    events.add_argument("streams", nargs="+", type=Path, metavar="STREAM",
                        help="video files, each with NAME.truth.json beside it")
    events.add_argument("--threads", type=_positive_int, default=2, metavar="N", help="interpreter threads (default 2)")
    events.add_argument("--max-lag-s", type=_non_negative_float, default=None, metavar="S",
                        help="an event counts for a gesture until this long after its end (default 1.5)")

    rss = sub.add_parser("rss", help="peak RSS of 'gesture-edge run' on a stream, in a child process")
    rss.add_argument("--bundle", type=Path, required=True, metavar="DIR", help="bundle folder made by gesture-convert")
    rss.add_argument("--source", metavar="SRC", help="video file (default: demo/streams/demo.mp4)")
    rss.add_argument("--config", type=Path, metavar="FILE", help="config file passed to gesture-edge run")
    rss.add_argument("--edge-args", default="", metavar="'ARGS'",
                     help="extra arguments for gesture-edge run, one shell-quoted string")
    rss.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    rss.add_argument("--markdown", type=Path, metavar="FILE", help="write the figures as markdown")
    rss.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))

    agreement = sub.add_parser("agreement", help="top-1 agreement of the integer models with the float references "
                                                 "on streams, per model")
    _common(agreement, decisions=False)
    agreement.add_argument("streams", nargs="+", type=Path, metavar="STREAM", help="video files")
    agreement.add_argument("--threads", type=_positive_int, default=2, metavar="N",
                           help="interpreter threads (default 2)")
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
    from edge.bench_report import PlotUnavailable

    try:
        if args.command == "latency":
            return _latency(args)
        if args.command == "events":
            return _events(args)
        if args.command == "agreement":
            return _agreement(args)
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
        from edge.bench_report import import_pyplot

        import_pyplot()  # fail before the long run, not after it


def _check_bundle(path: Path) -> None:
    from edge.manifest import Manifest, ManifestError

    try:
        Manifest.load(path).verify_files(path)
    except ManifestError as exc:
        raise BenchError(str(exc)) from None


def _latency(args: argparse.Namespace) -> int:
    from edge.bench_latency import run_latency
    from edge.bench_output import latency_markdown, latency_plot, latency_text

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
    from edge.bench_events import EventsSettings, run_events
    from edge.bench_output import events_markdown, events_plot, events_text
    from edge.metrics import DEFAULT_MAX_LAG_S

    _check_outputs(args)
    _check_bundle(args.bundle)
    settings = EventsSettings(
        bundle=args.bundle, streams=tuple(args.streams), threads=args.threads, hop_frames=args.hop_frames,
        backend=args.backend, config=args.config, progress=args.progress,
        max_lag_s=DEFAULT_MAX_LAG_S if args.max_lag_s is None else args.max_lag_s,
    )
    report = run_events(settings)
    report["command"] = args.command_line
    return _emit(args, report, events_text, events_markdown, events_plot, failed=False)


def _rss(args: argparse.Namespace) -> int:
    from edge.bench_output import rss_markdown, rss_text
    from edge.bench_rss import RssSettings, run_rss

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
    from edge.bench_agreement import AgreementSettings, agreement_markdown, agreement_text, run_agreement

    _check_outputs(args)
    _check_bundle(args.bundle)
    report = run_agreement(AgreementSettings(bundle=args.bundle, streams=tuple(args.streams),
                                             hop_frames=args.hop_frames, threads=args.threads,
                                             backend=args.backend, progress=args.progress))
    report["command"] = args.command_line
    return _emit(args, report, agreement_text, agreement_markdown, None, failed=False)


def _emit(args: argparse.Namespace, report: dict[str, Any], text: Any, markdown: Any, plot: Any,
          failed: bool) -> int:
    from edge.bench_report import write_json
    from edge.manifest import write_text_atomic

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
