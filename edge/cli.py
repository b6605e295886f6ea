"""`gesture-edge`: run the runtime, record clips, check a config file.

    gesture-edge run --bundle DIR --source SRC [--config FILE] [--sink NAME ...] [--hop N] [--threads N]
                     [--backend NAME] [--realtime] [--loop] [--folder-fps FPS] [--max-frames N]
    gesture-edge capture --source SRC --out DIR --clips N [--label NAME ...] [--frames 30] [--duration-s 2.0]
                     [--countdown-s 3 | --no-countdown] [--size HxW]
    gesture-edge check-config [FILE]

`run` reads the config file (--config, else ~/.config/gesture-edge/config.toml, else
/etc/gesture-edge/config.toml, else built-in defaults); flags override it, and are applied again when SIGHUP
reloads the file. Every user error is one line on stderr and exit status 2.

Default hop (`runtime.hop_frames = 2`, see also edge.stream): with the demo bundle's T = 20 frames at 10 fps
a window closes every hop / fps = 0.2 s, for 1 feature pass + ceil(T / hop) = 10 recurrent steps per frame.
Cost: by arithmetic a step of LSTM(128) over MobileNet v1 0.25's 1024 features at 128x128 is
4 x 128 x (1024 + 128) = 0.59 M multiply-adds against ~14 M for the feature pass, but a step this small is
dominated by the per-invoke overhead: measured on one x86 core (ai_edge_litert, int8, 128x128), p50 0.44 ms
for the feature pass and 0.35 ms for the 10 steps (the status line prints this split on any machine;
gesture-bench measures it properly). Per frame that is well inside the 100 ms a 10 fps model frame allows,
with room on a Pi. Latency: decisions every 0.2 s, and `consecutive_windows = 2` fires 0.2 s after the
first confident window. Hop 1 would halve that granularity for twice the steps, and would change what
`consecutive_windows` means in time; hop 4 would halve the steps but a ~1.2 s (12-frame) gesture then lies
wholly inside only (20 - 12) / 4 = 2 windows, so two agreeing windows in a row become a coin toss (at hop 2
it gets 4), and every decision comes 0.4 s later.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from edge import __version__
from edge.cliargs import OneLineParser, int_arg, non_negative_arg, positive_arg, size_arg
from edge.settings import BACKENDS, LOG_LEVELS, SINKS, Config

logger = logging.getLogger(__name__)

PROG = "gesture-edge"
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def _common(parser: argparse.ArgumentParser, top: bool = False) -> None:
    # Sub-commands repeat --log-level/--version; SUPPRESS keeps a top-level value unless given again.
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=default,
                        help="debug, info, warning or error (default: the config's logging.level, else info)")


def build_parser() -> argparse.ArgumentParser:
    """The gesture-edge argument parser (sub-commands run, capture, check-config)."""
    parser = OneLineParser(prog=PROG, description="Hand-gesture remote control: the Raspberry Pi runtime.")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,capture,check-config}",
                                parser_class=OneLineParser)

    run = sub.add_parser("run", help="recognise gestures from a camera or footage and carry out actions",
                         description="Run the runtime: source -> int8 features -> streaming LSTM -> decisions "
                                     "-> sinks. Flags override the config file.")
    _common(run)
    run.add_argument("--bundle", help="bundle folder made by gesture-convert (overrides runtime.bundle)")
    run.add_argument("--source", help="picamera2 | cam:N | /dev/videoN | a video file | a folder of images "
                                      "(overrides runtime.source)")
    run.add_argument("--config", type=Path, help="TOML config file (default: the user's, then the system's)")
    run.add_argument("--sink", action="append", choices=SINKS, metavar="NAME",
                     help=f"where actions go, repeatable: {', '.join(SINKS)} (overrides sinks.enabled)")
    run.add_argument("--hop", type=int_arg(1, 64), metavar="N",
                     help="start a recurrent state every N model frames (overrides runtime.hop_frames)")
    run.add_argument("--threads", type=int_arg(1, 16), metavar="N",
                     help="interpreter threads per model (overrides runtime.num_threads)")
    run.add_argument("--backend", choices=BACKENDS, help="TFLite runtime (overrides runtime.backend)")
    run.add_argument("--realtime", action="store_true", help="play a video file at its own speed")
    run.add_argument("--loop", action="store_true", help="play a video file or folder again when it ends")
    run.add_argument("--folder-fps", type=positive_arg, metavar="FPS",
                     help="frame rate of a folder of images (default: the model's)")
    run.add_argument("--status-interval-s", type=positive_arg, metavar="S",
                     help="seconds between status lines (overrides runtime.status_interval_s)")
    run.add_argument("--max-frames", type=int_arg(1, 2**31 - 1), metavar="N", help="stop after N model frames")

    capture = sub.add_parser("capture", help="record clips in the case-study layout (for calibration)",
                             description="Record clips from a camera (or footage) as JPEG frames in the "
                                         "case-study layout: OUT/train/clip_NNNNN/NNNNN.jpg + OUT/train.csv.")
    _common(capture)
    capture.add_argument("--source", required=True, help="picamera2 | cam:N | /dev/videoN | a video | a folder")
    capture.add_argument("--out", required=True, type=Path, help="dataset folder (clips are added to it)")
    capture.add_argument("--clips", required=True, type=int_arg(1, 10000), metavar="N",
                         help="clips per label (in total without --label)")
    capture.add_argument("--label", action="append", default=[], metavar="NAME",
                         help="Swipe, Left Swipe, Right Swipe, Stop, Thumbs Down, Thumbs Up or 'No gesture'; "
                              "repeatable (recorded in turns); none: unlabelled clips")
    capture.add_argument("--frames", type=int_arg(1, 1000), default=30, metavar="N",
                         help="frames per clip (default 30)")
    capture.add_argument("--duration-s", type=positive_arg, default=2.0, metavar="S",
                         help="seconds per clip (default 2.0)")
    capture.add_argument("--countdown-s", type=non_negative_arg, default=3.0, metavar="S",
                         help="countdown before each clip (default 3)")
    capture.add_argument("--no-countdown", action="store_true", help="no countdown (same as --countdown-s 0)")
    capture.add_argument("--size", type=size_arg, default=(120, 160), metavar="HxW",
                         help="saved frame size (default 120x160, the whole frame resized)")
    capture.add_argument("--folder-fps", type=positive_arg, metavar="FPS",
                         help="frame rate of a folder source (default: frames / duration)")

    check = sub.add_parser("check-config", help="validate a config file without running",
                           description="Validate a gesture-edge TOML config file: 'FILE: ok' or the "
                                       "one-line error (exit 2).")
    _common(check)
    check.add_argument("file", nargs="?", help="config file (default: the user's, then the system's)")
    return parser


def apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    """The config with the `run` flags laid over it (frozen settings: dataclasses.replace)."""
    runtime = {}
    if args.bundle is not None:
        runtime["bundle"] = str(Path(args.bundle).expanduser())
    if args.source is not None:
        runtime["source"] = args.source
    if args.hop is not None:
        runtime["hop_frames"] = args.hop
    if args.threads is not None:
        runtime["num_threads"] = args.threads
    if args.backend is not None:
        runtime["backend"] = args.backend
    if args.realtime:
        runtime["realtime"] = True
    if args.status_interval_s is not None:
        runtime["status_interval_s"] = args.status_interval_s
    changes: dict = {"runtime": dataclasses.replace(config.runtime, **runtime)}
    if args.sink:
        changes["sinks"] = dataclasses.replace(config.sinks, enabled=tuple(dict.fromkeys(args.sink)))
    if getattr(args, "log_level", None):
        changes["log_level"] = args.log_level
    return dataclasses.replace(config, **changes)


def _configure_logging(level: str | None) -> None:
    logging.basicConfig(level=(level or "info").upper(), format=LOG_FORMAT, stream=sys.stderr, force=True)


def _run(args: argparse.Namespace) -> int:
    from edge.app import run
    from edge.config import find_config, load_config
    from edge.sdnotify import Notifier
    from edge.sources import SourceOptions

    path = find_config(args.config)
    config = apply_overrides(load_config(path) if path is not None else Config(), args)
    if args.log_level is None:
        logging.getLogger().setLevel(config.log_level.upper())
    logger.info("gesture-edge %s; config: %s", __version__, path or "built-in defaults")

    def reload_config() -> Config:
        if path is None:
            raise_no_file()
        return apply_overrides(load_config(path), args)

    return run(config, notifier=Notifier.from_env(unset=True), reload_config=reload_config,
               source_options=SourceOptions(folder_fps=args.folder_fps, loop=args.loop), max_frames=args.max_frames)


def raise_no_file() -> None:
    """SIGHUP without a config file: nothing to reload."""
    from edge.config import ConfigError

    raise ConfigError("no config file to reload (running on the built-in defaults and flags)")


def _capture(args: argparse.Namespace) -> int:
    from edge.capture import CaptureSettings, run_capture

    return run_capture(CaptureSettings(
        source=args.source, out=args.out, clips=args.clips, labels=tuple(args.label), frames=args.frames,
        duration_s=args.duration_s, countdown_s=0.0 if args.no_countdown else args.countdown_s,
        size_hw=args.size, folder_fps=args.folder_fps))


def main(argv: Sequence[str] | None = None) -> int:
    """gesture-edge entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level)
    if args.command == "check-config":
        from edge.config import check_config_main

        return check_config_main([args.file] if args.file else [])
    from edge.app import AppError
    from edge.capture import CaptureError
    from edge.config import ConfigError
    from edge.manifest import ManifestError
    from edge.sources import SourceError

    try:
        if args.command == "run":
            return _run(args)
        return _capture(args)
    except (AppError, CaptureError, ConfigError, ManifestError, SourceError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
