"""`gesture-edge`: run the runtime, record clips, check a config file.

    gesture-edge run --bundle DIR --source SRC [--config FILE] [--sink NAME ...] [--hop N] [--threads N]
                     [--backend NAME] [--realtime] [--loop] [--folder-fps FPS] [--max-frames N]
                     [--annotate OUT.mp4] [--windows FILE.jsonl]
    gesture-edge capture --source SRC --out DIR --clips N [--label NAME ...] [--frames 30] [--duration-s 2.0]
                     [--countdown-s 3 | --no-countdown] [--size HxW]
    gesture-edge capture --source SRC --out DIR --background --minutes M     (unlabelled background footage)
    gesture-edge capture --source SRC --out DIR --stream --minutes M [--label NAME ...] [--gap-s MIN,MAX]
                     [--seed N]                                             (prompted gestures + ground truth)
    gesture-edge check-config [FILE] [--no-bundle]

`run` reads the config file (--config, else ~/.config/gesture-edge/config.toml, else
/etc/gesture-edge/config.toml, else built-in defaults); flags override it, and are applied again when SIGHUP
reloads the file. Paths in flags are relative to the current directory, paths in the file to the file's
folder. Every user error is one line on stderr and exit status 2. `run` installs its signal handlers before
it imports anything slow (`edge.signals`): a SIGHUP or SIGTERM during start-up is a request, never a death.

`check-config` runs what `run` checks before it opens a camera: the file, the bundle (loaded, first in a child
process, and checked against the file: gestures, hop, backend), a file or folder source (opened and closed)
and the sinks (built, not started); `--no-bundle` checks the file and the source without the bundle.

Default hop (`runtime.hop_frames = 2`, see also edge.stream): with the demo bundle's T = 20 frames at 10 fps
a window closes every hop / fps = 0.2 s, for 1 feature pass + ceil(T / hop) = 10 recurrent steps per frame.
Cost: by arithmetic a step of LSTM(128) over MobileNet v1 0.25's 1024 features at 128x128 is
4 x 128 x (1024 + 128) = 0.59 M multiply-adds against ~14 M for the feature pass, but a step this small is
dominated by the per-invoke overhead: `gesture-bench` on the development machine (one thread, int8, 128x128;
README and docs/BENCHMARKS.md) measured 0.66 ms for the feature pass and 0.49 ms for the 10 steps (the
status line prints this split on any machine). Per frame that is well inside the 100 ms a 10 fps model frame
allows, with room on a Pi. Latency: decisions every 0.2 s, and `consecutive_windows = 2` fires 0.2 s after the
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
from edge.cliargs import (OneLineParser, add_log_level, add_version, int_arg, non_negative_arg, positive_arg,
                          setting_arg, size_arg, span_arg)
from edge.errors import one_line
from edge.settings import BACKENDS, SINKS, Config, RuntimeChanges, RuntimeSettings
from edge.signals import Stopper, install, restore

logger = logging.getLogger(__name__)

PROG = "gesture-edge"
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def _common(parser: argparse.ArgumentParser, top: bool = False) -> None:
    # Sub-commands repeat --log-level/--version; SUPPRESS keeps a top-level value unless given again.
    add_version(parser, PROG)
    add_log_level(parser, default=None if top else argparse.SUPPRESS,
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
    # Flags that override a config key take the key's own check (type and bounds) from its settings field.
    run.add_argument("--hop", type=setting_arg(RuntimeSettings, "hop_frames"), metavar="N",
                     help="start a recurrent state every N model frames (overrides runtime.hop_frames)")
    run.add_argument("--threads", type=setting_arg(RuntimeSettings, "num_threads"), metavar="N",
                     help="interpreter threads per model (overrides runtime.num_threads)")
    run.add_argument("--backend", choices=BACKENDS, help="TFLite runtime (overrides runtime.backend)")
    run.add_argument("--realtime", action="store_true", help="play a video file at its own speed")
    run.add_argument("--loop", action="store_true", help="play a video file or folder again when it ends")
    run.add_argument("--folder-fps", type=positive_arg, metavar="FPS",
                     help="frame rate of a folder of images (default: the model's)")
    run.add_argument("--status-interval-s", type=setting_arg(RuntimeSettings, "status_interval_s"), metavar="S",
                     help="seconds between status lines (overrides runtime.status_interval_s)")
    run.add_argument("--max-frames", type=int_arg(1, 2**31 - 1), metavar="N", help="stop after N model frames")
    run.add_argument("--annotate", type=Path, metavar="OUT.mp4",
                     help="also write the frames as the model saw them, with each window's probabilities, the "
                          "decision state and the events drawn on them (.mp4 or .avi; written at the end)")
    run.add_argument("--windows", type=Path, metavar="FILE.jsonl",
                     help="also log every window's class probabilities, one JSON line each (t_s, start_t_s, "
                          "probs by label; written at the end)")

    capture = sub.add_parser("capture", help="record clips, background footage or prompted gesture streams in "
                                             "the room (to train, calibrate and tune a model for it)",
                             description="Record clips from a camera (or footage) as JPEG frames in the "
                                         "case-study layout: OUT/train/clip_NNNNN/NNNNN.jpg + OUT/train.csv; or, "
                                         "with --background --minutes M, unlabelled footage of the room as it is "
                                         "(OUT/background/TIMESTAMP.mp4); or, with --stream --minutes M, one video "
                                         "of gestures done when prompted on stderr ('now: Stop'), with their ground "
                                         "truth beside it (OUT/streams/TIMESTAMP.mp4 + TIMESTAMP.truth.json).",
                             epilog="Then train a model for the room: gesture-train --data OUT --init "
                                    "models/demo/model.keras --negatives OUT/background --out runs/my-room; "
                                    "gesture-convert runs/my-room/model.keras --calib OUT --out bundle; tune its "
                                    "decisions on footage kept out of training: gesture-bench tune --bundle bundle "
                                    "--gestures TEST/streams/*.mp4 --background TEST/background/*.mp4 "
                                    "--max-false-per-hour 1 --save-to-bundle (docs/IN_ROOM.md).")
    _common(capture)
    capture.add_argument("--source", required=True, help="picamera2 | cam:N | /dev/videoN | a video | a folder")
    capture.add_argument("--out", required=True, type=Path, help="dataset folder (clips are added to it)")
    capture.add_argument("--clips", type=int_arg(1, 10000), metavar="N",
                         help="clips per label (in total without --label); required unless --background or "
                              "--stream")
    capture.add_argument("--background", action="store_true",
                         help="record unlabelled background footage (no gestures) for --minutes into "
                              "OUT/background/ instead of clips: for gesture-train --negatives and gesture-bench")
    capture.add_argument("--stream", action="store_true",
                         help="record one video of --minutes with a gesture prompted on stderr every few seconds, "
                              "and its ground truth (the prompt windows), into OUT/streams/: for gesture-bench "
                              "tune --gestures and gesture-bench events")
    capture.add_argument("--minutes", type=positive_arg, metavar="M",
                         help="how long --background or --stream records (e.g. 30; Ctrl-C stops early and keeps "
                              "it)")
    capture.add_argument("--label", action="append", default=[], metavar="NAME",
                         help="Swipe, Left Swipe, Right Swipe, Stop, Thumbs Down, Thumbs Up or 'No gesture'; "
                              "repeatable (recorded in turns); none: unlabelled clips, or with --stream the four "
                              "gestures in a random order, balanced")
    capture.add_argument("--gap-s", type=span_arg("seconds"), metavar="MIN,MAX",
                         help="--stream: seconds from one prompt window to the next, drawn at random (default "
                              "3,6)")
    capture.add_argument("--seed", type=int_arg(0, 2**31 - 1), metavar="N",
                         help="--stream: seed of the gaps and the gesture order (default: a fresh one, written "
                              "to the truth file)")
    capture.add_argument("--frames", type=int_arg(1, 1000), default=30, metavar="N",
                         help="frames per clip (default 30)")
    capture.add_argument("--duration-s", type=positive_arg, default=2.0, metavar="S",
                         help="seconds per clip and per --stream prompt window (default 2.0); --frames / "
                              "--duration-s is also the frame rate of --background and --stream videos (default "
                              "15 fps)")
    capture.add_argument("--countdown-s", type=non_negative_arg, default=3.0, metavar="S",
                         help="countdown before each clip, or before a --background or --stream recording "
                              "(default 3)")
    capture.add_argument("--no-countdown", action="store_true", help="no countdown (same as --countdown-s 0)")
    capture.add_argument("--size", type=size_arg, default=(120, 160), metavar="HxW",
                         help="saved frame size (default 120x160, the whole frame resized)")
    capture.add_argument("--folder-fps", type=positive_arg, metavar="FPS",
                         help="frame rate of a folder source (default: frames / duration)")

    check = sub.add_parser("check-config", help="validate a config file without running",
                           description="Check a gesture-edge TOML config file as `run` would up to opening the "
                                       "camera: the file, its bundle (loaded and checked against the file), a "
                                       "file or folder source, the sinks. Prints 'FILE: ok' or the one-line "
                                       "error (exit 2).")
    _common(check)
    check.add_argument("file", nargs="?", help="config file (default: the user's, then the system's)")
    check.add_argument("--no-bundle", action="store_true",
                       help="check the file and its source only, without loading the bundle (e.g. on a "
                            "workstation, for a Pi)")
    return parser


def apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    """The config with the `run` flags laid over it (frozen settings: dataclasses.replace)."""
    runtime: RuntimeChanges = {}
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


def _run(args: argparse.Namespace, stopper: Stopper | None) -> int:
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
        assert path is not None  # run() is given reload_config only when a config file was found
        return apply_overrides(load_config(path), args)

    # Without a config file there is nothing to reload: the app says so on SIGHUP and keeps running.
    return run(config, notifier=Notifier.from_env(unset=True), reload_config=reload_config if path else None,
               source_options=SourceOptions(folder_fps=args.folder_fps, loop=args.loop), max_frames=args.max_frames,
               taps=_taps(args), stopper=stopper)


def _taps(args: argparse.Namespace) -> list:
    """The frame taps the run flags ask for (--windows, --annotate); bad output paths are one-line errors."""
    from edge.app import AppError
    from edge.taps import TapError, WindowLog

    taps: list = []
    try:
        if args.windows is not None:
            taps.append(WindowLog(args.windows))
        if args.annotate is not None:
            from edge.annotate import Annotator

            taps.append(Annotator(args.annotate))
    except TapError as exc:
        raise AppError(str(exc)) from None
    return taps


def _capture(args: argparse.Namespace) -> int:
    from edge.capture import DEFAULT_GAP_S, CaptureError, CaptureSettings, run_capture

    if args.background and args.stream:
        raise CaptureError("--stream: not with --background (one video per session: gestures or none)")
    for flag, given in (("--background", args.background), ("--stream", args.stream)):
        if given and args.minutes is None:
            raise CaptureError(f"{flag}: needs --minutes M (how long to record)")
    if args.minutes is not None and not (args.background or args.stream):
        raise CaptureError("--minutes: only with --background or --stream (clips are --clips N of --duration-s "
                           "each)")
    for flag, value in (("--gap-s", args.gap_s), ("--seed", args.seed)):
        if value is not None and not args.stream:
            raise CaptureError(f"{flag}: only with --stream")
    minutes_s = args.minutes * 60.0 if args.minutes is not None else None
    return run_capture(CaptureSettings(
        source=args.source, out=args.out, clips=args.clips or 0, labels=tuple(args.label), frames=args.frames,
        duration_s=args.duration_s, countdown_s=0.0 if args.no_countdown else args.countdown_s,
        size_hw=args.size, folder_fps=args.folder_fps,
        background_s=minutes_s if args.background else None, stream_s=minutes_s if args.stream else None,
        gap_s=args.gap_s or DEFAULT_GAP_S, seed=args.seed))


def _check_config(args: argparse.Namespace) -> int:
    """`check-config`: 'FILE: ok' on stdout (exit 0), or the one-line error on stderr (exit 2)."""
    from edge.config import SYSTEM_CONFIG, ConfigError, find_config, load_config, user_config_path
    from edge.manifest import ManifestError
    from edge.sources import SourceError, check_source

    path = find_config(args.file)
    if path is None:
        print(f"no config file at {user_config_path()} or {SYSTEM_CONFIG}: the built-in defaults apply",
              file=sys.stderr)
        return 2
    try:
        config = load_config(path)
        if args.no_bundle:
            # Without the bundle the model's size and frame rate are unknown; they do not matter to whether a
            # file or folder opens.
            checked = [f"source {check_source(config.runtime.source, (32, 32), 10.0)}"]
        else:
            import time

            from edge.app import App, AppError
            from edge.sdnotify import Notifier

            app = App(config, source=None, sinks=None, clock=time.monotonic, notifier=Notifier(""),
                      reload_config=None, source_options=None, max_frames=None)
            try:
                checked = app.check()
            except AppError as exc:
                raise ConfigError(str(exc)) from None
    except (ConfigError, ManifestError, SourceError) as exc:
        print(one_line(exc), file=sys.stderr)
        return 2
    for line in checked:
        logger.info("checked %s", line)
    print(f"{path}: ok")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """gesture-edge entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    previous: dict = {}
    stopper = None
    if args.command == "run":
        # Before anything slow (numpy, OpenCV, the TFLite runtime, the bundle load): from here on a SIGHUP or
        # SIGTERM is a request the app acts on, not the signal's default action.
        stopper = Stopper()
        previous = install(stopper)
    try:
        return _main(args, stopper)
    finally:
        restore(previous)


def _main(args: argparse.Namespace, stopper: Stopper | None) -> int:
    _configure_logging(args.log_level)
    if args.command == "check-config":
        return _check_config(args)
    from edge.app import AppError
    from edge.capture import CaptureError
    from edge.config import ConfigError
    from edge.manifest import ManifestError
    from edge.sources import SourceError

    try:
        if args.command == "run":
            return _run(args, stopper)
        return _capture(args)
    except (AppError, CaptureError, ConfigError, ManifestError, SourceError) as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
