"""CecSink against recording fakes of cec-ctl and cec-client placed first on PATH.

The only fakes here: there is no /dev/cec0 (nor a TV) on a CI machine, so the device is a temporary file and
the tools are small scripts that append their argv (and stdin) to a log and print what the real tools print
(output formats from v4l-utils' cec-ctl.cpp / cec-info.cpp and libCEC's cec-client.cpp).
"""

from __future__ import annotations

import json
import logging
import os
import sys

import pytest

from edge.settings import CecSettings
from edge.sinks import Dispatcher
from edge.sinks.cec import UI_COMMANDS, CecSink, cec_ctl_osd_argv
from tests.fakes import gesture_event

FAKE_TOOL = r'''#!{python}
import json, os, sys, time
tool = os.path.basename(sys.argv[0])
args = sys.argv[1:]
stdin = sys.stdin.read() if tool == "cec-client" else None
with open(os.environ["FAKE_CEC_LOG"], "a") as log:
    log.write(json.dumps([tool] + args + ([stdin] if stdin is not None else [])) + "\n")
mode = os.environ.get("FAKE_CEC_MODE", "ok")
present = [a for a in os.environ.get("FAKE_CEC_PRESENT", "").split(",") if a]
if mode == "hang":
    time.sleep(10)
if mode == "exit1":
    if tool == "cec-ctl":
        print("Failed to open /dev/cec0: Device or resource busy", file=sys.stderr)
    else:
        print("autodetect FAILED")
    sys.exit(1)
if tool == "cec-client":
    print("opening a connection to the CEC adapter...")
    if mode == "error":
        print("ERROR:   [            1234]\tcould not transmit the command")
    if stdin.startswith("poll "):
        address = stdin.split()[1]
        print("POLL message sent" if address in present else "POLL message not sent")
    sys.exit(0)
# cec-ctl
if "--playback" in args:
    print("15" if mode == "no-la" else "4")
    sys.exit(0)
if mode == "unconfigured":
    print("\nAdapter is unconfigured, please configure it first.", file=sys.stderr)
    sys.exit(0)
to = args[args.index("-t") + 1]
names = {"0": "TV", "4": "Playback Device 1", "5": "Audio System"}
messages = [a for a in args if a in ("--poll", "--user-control-pressed", "--user-control-released",
                                     "--set-osd-string")]
for n, message in enumerate(messages, 1):
    print(f"\nTransmit from Playback Device 1 to {names.get(to, to)} (4 to {to}):")
    print({"--poll": "POLL", "--user-control-pressed": "USER_CONTROL_PRESSED (0x44):",
           "--user-control-released": "USER_CONTROL_RELEASED (0x45)",
           "--set-osd-string": "SET_OSD_STRING (0x64):"}[message])
    if mode == "ioctl-fail":
        continue  # the kernel refused the transmit: cec-ctl prints no Sequence line
    print(f"\tSequence: {n} Tx Timestamp: 1234.{n:03d}s")
    if (mode == "nack" or (message == "--poll" and to not in present)
            or (mode == "osd-nack" and message == "--set-osd-string")):
        print("\tTx, Not Acknowledged (4), Max Retries")
'''


@pytest.fixture
def fake_cec(tmp_path, monkeypatch):
    """A bin folder with fake cec-ctl and cec-client first on PATH, a fake device node and the call log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("cec-ctl", "cec-client"):
        tool = bin_dir / name
        tool.write_text(FAKE_TOOL.replace("{python}", sys.executable))
        tool.chmod(0o755)
    device = tmp_path / "cec0"
    device.write_text("")
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CEC_LOG", str(log))
    monkeypatch.setenv("FAKE_CEC_PRESENT", "")
    monkeypatch.setenv("FAKE_CEC_MODE", "ok")

    class Fake:
        def __init__(self) -> None:
            self.bin = bin_dir
            self.device = str(device)

        def calls(self) -> list[list[str]]:
            if not log.exists():
                return []
            return [json.loads(line) for line in log.read_text().splitlines()]

        def clear(self) -> None:
            log.unlink(missing_ok=True)

        def remove(self, name: str) -> None:
            (bin_dir / name).unlink()

    return Fake()


def claim(dev: str) -> list[str]:
    return ["cec-ctl", "-d", dev, "-s", "--playback", "--osd-name", "gesture-edge", "-l"]


def poll(dev: str, address: int) -> list[str]:
    return ["cec-ctl", "-d", dev, "-s", "-t", str(address), "--poll"]


def press(dev: str, address: int, ui_cmd: str) -> list[str]:
    return ["cec-ctl", "-d", dev, "-s", "-t", str(address), "--user-control-pressed", f"ui-cmd={ui_cmd}",
            "--user-control-released"]


CLIENT = ["cec-client", "-s", "-d", "1", "-t", "p", "-o", "gesture-edge"]
EXPECTED_UI = {"play": "play", "pause": "pause", "play_pause": "pause-play-function", "stop": "stop",
               "next": "skip-forward", "previous": "skip-backward", "volume_up": "volume-up",
               "volume_down": "volume-down", "mute": "mute"}
EXPECTED_CODE = {"play": 0x44, "pause": 0x46, "play_pause": 0x61, "stop": 0x45, "next": 0x4B,
                 "previous": 0x4C, "volume_up": 0x41, "volume_down": 0x42, "mute": 0x43}
VOLUME = ("volume_up", "volume_down", "mute")


def test_ui_command_table_matches_the_cec_spec():
    assert {a: UI_COMMANDS[a][0] for a in UI_COMMANDS} == EXPECTED_UI
    assert {a: UI_COMMANDS[a][1] for a in UI_COMMANDS} == EXPECTED_CODE


def run_all(sink: CecSink) -> None:
    sink.start()
    for action in EXPECTED_UI:
        sink.handle(gesture_event(action=action))


@pytest.mark.parametrize("audio_present", [True, False], ids=["with-audio-system", "tv-only"])
def test_cec_ctl_every_action(fake_cec, monkeypatch, audio_present):
    monkeypatch.setenv("FAKE_CEC_PRESENT", "5" if audio_present else "")
    sink = CecSink(CecSettings(device=fake_cec.device))
    run_all(sink)
    dev = fake_cec.device
    volume_to = 5 if audio_present else 0
    expected = [claim(dev), poll(dev, 5)] + [
        press(dev, volume_to if a in VOLUME else 0, EXPECTED_UI[a]) for a in EXPECTED_UI]
    assert fake_cec.calls() == expected  # claimed exactly once, one pressed+released call per action
    assert sink.counters == {"sent": 9, "dropped": 0, "failed": 0}
    assert sink.logical_address == 4


def test_explicit_targets_skip_the_audio_poll(fake_cec, monkeypatch):
    monkeypatch.setenv("FAKE_CEC_PRESENT", "5")
    dev = fake_cec.device
    sink = CecSink(CecSettings(device=dev, volume_target="tv", play_target=4))
    for action in ("play", "volume_up", "mute"):
        sink.handle(gesture_event(action=action))
    assert fake_cec.calls() == [claim(dev), press(dev, 4, "play"), press(dev, 0, "volume-up"), press(dev, 0, "mute")]
    fake_cec.clear()
    monkeypatch.setenv("FAKE_CEC_PRESENT", "")
    sink = CecSink(CecSettings(device=dev, volume_target="audio"))
    sink.start()
    sink.handle(gesture_event(action="volume_down"))
    assert fake_cec.calls() == [claim(dev), press(dev, 5, "volume-down")]


def test_audio_system_is_rechecked_after_the_interval(fake_cec, monkeypatch):
    now = [100.0]
    dev = fake_cec.device
    sink = CecSink(CecSettings(device=dev), audio_recheck_s=60.0, clock=lambda: now[0])
    sink.start()  # no audio system yet
    sink.handle(gesture_event(action="volume_up"))
    monkeypatch.setenv("FAKE_CEC_PRESENT", "5")  # the soundbar is switched on
    now[0] += 30
    sink.handle(gesture_event(action="volume_up"))  # still within the interval: TV
    now[0] += 31
    sink.handle(gesture_event(action="volume_up"))  # re-polled: audio system
    assert fake_cec.calls() == [claim(dev), poll(dev, 5), press(dev, 0, "volume-up"), press(dev, 0, "volume-up"),
                                poll(dev, 5), press(dev, 5, "volume-up")]


def test_missing_device_drops_with_one_line_and_runs_nothing(fake_cec, tmp_path, caplog):
    sink = CecSink(CecSettings(device=str(tmp_path / "cec9")))
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.start()
        sink.handle(gesture_event(action="play"))
    assert fake_cec.calls() == []
    assert sink.counters == {"sent": 0, "dropped": 1, "failed": 0}
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert message.startswith(f"cec: dropped play (Swipe): {tmp_path / 'cec9'} does not exist; enable HDMI-CEC")
    assert "vc4-kms-v3d" in message


def test_missing_tool_drops_with_one_line(fake_cec, tmp_path, monkeypatch, caplog):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    sink = CecSink(CecSettings(device=fake_cec.device))
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.start()
        sink.handle(gesture_event(gesture="Stop", action="pause"))
    assert sink.counters == {"sent": 0, "dropped": 1, "failed": 0}
    assert [r.getMessage() for r in caplog.records] == [
        "cec: dropped pause (Stop): neither cec-ctl nor cec-client found on PATH (sudo apt install v4l-utils)"]
    # Only cec-ctl installed, but the config asks for cec-client.
    only_ctl = tmp_path / "only-cec-ctl"
    only_ctl.mkdir()
    (fake_cec.bin / "cec-ctl").rename(only_ctl / "cec-ctl")
    monkeypatch.setenv("PATH", str(only_ctl))
    caplog.clear()
    sink = CecSink(CecSettings(device=fake_cec.device, tool="cec-client"))
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.start()
        sink.handle(gesture_event(gesture="Thumbs Down", action="mute"))
    assert [r.getMessage() for r in caplog.records] == [
        "cec: dropped mute (Thumbs Down): cec-client not found on PATH (sudo apt install cec-utils)"]
    assert fake_cec.calls() == []


@pytest.mark.parametrize("mode,reason", [
    ("nack", "Tx, Not Acknowledged (4), Max Retries"),
    ("ioctl-fail", "the kernel transmitted 0 of 2 message(s)"),
    ("exit1", "exit status 1: Failed to open /dev/cec0: Device or resource busy"),
])
def test_failing_transmit_is_counted_with_one_line(fake_cec, monkeypatch, caplog, mode, reason):
    dev = fake_cec.device
    sink = CecSink(CecSettings(device=dev, volume_target="tv"))
    sink.start()  # claims while the tool still works
    monkeypatch.setenv("FAKE_CEC_MODE", mode)
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.handle(gesture_event(gesture="Stop", action="stop"))
    assert sink.counters == {"sent": 0, "dropped": 0, "failed": 1}
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith("cec: stop (Stop) failed: cec-ctl stop -> TV (0): " + reason)
    assert fake_cec.calls() == [claim(dev), press(dev, 0, "stop")]


def test_timeout_is_counted_and_the_tool_killed(fake_cec, monkeypatch, caplog):
    dev = fake_cec.device
    sink = CecSink(CecSettings(device=dev, volume_target="tv", timeout_s=0.5))
    sink.start()
    monkeypatch.setenv("FAKE_CEC_MODE", "hang")
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.handle(gesture_event(action="next"))
    assert sink.counters["failed"] == 1
    assert [r.getMessage() for r in caplog.records] == [
        "cec: next (Swipe) failed: cec-ctl skip-forward -> TV (0): no answer within 0.5 s (killed)"]


def test_failed_claim_is_retried_on_the_next_action(fake_cec, monkeypatch, caplog):
    dev = fake_cec.device
    monkeypatch.setenv("FAKE_CEC_MODE", "exit1")
    sink = CecSink(CecSettings(device=dev, volume_target="tv"))
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.start()
        caplog.clear()
        sink.handle(gesture_event(action="play"))
    assert sink.counters == {"sent": 0, "dropped": 0, "failed": 1}
    assert [r.getMessage() for r in caplog.records] == [
        f"cec: play (Swipe) failed: claiming a playback-device address on {dev} failed: exit status 1: "
        "Failed to open /dev/cec0: Device or resource busy"]
    monkeypatch.setenv("FAKE_CEC_MODE", "ok")
    sink.handle(gesture_event(action="play"))
    sink.handle(gesture_event(action="pause"))
    assert fake_cec.calls() == [claim(dev), claim(dev), claim(dev), press(dev, 0, "play"), press(dev, 0, "pause")]
    assert sink.counters == {"sent": 2, "dropped": 0, "failed": 1}


def test_real_cec_ctl_on_a_file_that_is_no_cec_device(tmp_path, caplog):
    """The installed cec-ctl itself (no fake): it exits 0 but reports no address; we must notice."""
    not_cec = tmp_path / "not-a-cec-device"
    not_cec.write_text("")
    sink = CecSink(CecSettings(device=str(not_cec), tool="cec-ctl", volume_target="tv"))
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.handle(gesture_event(action="play"))
    assert sink.counters == {"sent": 0, "dropped": 0, "failed": 1}
    assert [r.getMessage() for r in caplog.records] == [
        f"cec: play (Swipe) failed: {not_cec} stayed unconfigured after claiming a playback-device address "
        "(no logical address reported); is it a CEC device?"]


def test_real_cec_client_without_an_adapter(tmp_path, caplog):
    """The installed cec-client itself (no fake): with no CEC adapter its autodetection fails."""
    device = tmp_path / "cec0"
    device.write_text("")
    sink = CecSink(CecSettings(device=str(device), tool="cec-client", volume_target="tv"))
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.handle(gesture_event(action="play"))
    assert sink.counters == {"sent": 0, "dropped": 0, "failed": 1}
    assert [r.getMessage() for r in caplog.records] == [
        "cec: play (Swipe) failed: cec-client play -> TV (0): 'tx 40:44:44': exit status 1: autodetect FAILED"]


def test_lost_address_is_claimed_again(fake_cec, monkeypatch):
    dev = fake_cec.device
    sink = CecSink(CecSettings(device=dev, volume_target="tv"))
    sink.start()
    monkeypatch.setenv("FAKE_CEC_MODE", "unconfigured")
    sink.handle(gesture_event(action="play"))
    monkeypatch.setenv("FAKE_CEC_MODE", "ok")
    sink.handle(gesture_event(action="play"))
    assert fake_cec.calls() == [claim(dev), press(dev, 0, "play"), claim(dev), press(dev, 0, "play")]
    assert sink.counters == {"sent": 1, "dropped": 0, "failed": 1}


def test_no_logical_address_yet_still_counts_as_claimed(fake_cec, monkeypatch, caplog):
    dev = fake_cec.device
    monkeypatch.setenv("FAKE_CEC_MODE", "no-la")
    sink = CecSink(CecSettings(device=dev, volume_target="tv"))
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.start()
    assert sink.logical_address is None
    assert "has no logical address yet" in caplog.records[0].getMessage()
    monkeypatch.setenv("FAKE_CEC_MODE", "ok")
    sink.handle(gesture_event(action="play"))
    assert fake_cec.calls() == [claim(dev), press(dev, 0, "play")]


@pytest.mark.parametrize("audio_present", [True, False], ids=["with-audio-system", "tv-only"])
def test_cec_client_fallback_every_action(fake_cec, monkeypatch, audio_present):
    # Only the fake cec-client on PATH (the real cec-ctl may be installed in /usr/bin): tool = "auto" falls back.
    fake_cec.remove("cec-ctl")
    monkeypatch.setenv("PATH", str(fake_cec.bin))
    settings = CecSettings(device=fake_cec.device)
    monkeypatch.setenv("FAKE_CEC_PRESENT", "5" if audio_present else "")
    sink = CecSink(settings)
    run_all(sink)
    volume_to = 5 if audio_present else 0
    expected = [CLIENT + ["poll 5\n"]]
    for action, code in EXPECTED_CODE.items():
        target = volume_to if action in VOLUME else 0
        expected += [CLIENT + [f"tx 4{target:X}:44:{code:02X}\n"], CLIENT + [f"tx 4{target:X}:45\n"]]
    assert fake_cec.calls() == expected
    assert sink.counters == {"sent": 9, "dropped": 0, "failed": 0}


def test_tool_setting_picks_cec_client_even_with_cec_ctl_present(fake_cec):
    sink = CecSink(CecSettings(device=fake_cec.device, tool="cec-client", volume_target="tv"))
    sink.start()
    sink.handle(gesture_event(action="play_pause"))
    assert fake_cec.calls() == [CLIENT + ["tx 40:44:61\n"], CLIENT + ["tx 40:45\n"]]


@pytest.mark.parametrize("mode,reason", [
    ("exit1", "'tx 40:44:45': exit status 1: autodetect FAILED"),
    ("error", "'tx 40:44:45': ERROR:   [            1234]\tcould not transmit the command"),
])
def test_cec_client_failures(fake_cec, monkeypatch, caplog, mode, reason):
    sink = CecSink(CecSettings(device=fake_cec.device, tool="cec-client", volume_target="tv"))
    monkeypatch.setenv("FAKE_CEC_MODE", mode)
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.handle(gesture_event(gesture="Stop", action="stop"))
    assert sink.counters == {"sent": 0, "dropped": 0, "failed": 1}
    assert [r.getMessage() for r in caplog.records] == [f"cec: stop (Stop) failed: cec-client stop -> TV (0): {reason}"]
    # No release after a failed press.
    assert fake_cec.calls() == [CLIENT + ["tx 40:44:45\n"]]


def test_through_the_dispatcher_claims_once_on_the_worker(fake_cec, monkeypatch):
    monkeypatch.setenv("FAKE_CEC_PRESENT", "5")
    dev = fake_cec.device
    dispatcher = Dispatcher([CecSink(CecSettings(device=dev))])
    for action in ("play", "volume_up", "pause"):
        dispatcher.submit(gesture_event(action=action))
    assert dispatcher.close(timeout_s=30)
    assert fake_cec.calls() == [claim(dev), poll(dev, 5), press(dev, 0, "play"), press(dev, 5, "volume-up"),
                                press(dev, 0, "pause")]
    assert dispatcher.stats()["cec"] == {"sent": 3, "dropped": 0, "failed": 0, "queued": 0}


# -- on-screen text (CEC <Set OSD String>, opcode 0x64) ------------------------------------------------------

def osd(dev: str, text: str) -> list[str]:
    return ["cec-ctl", "-d", dev, "-s", "-t", "0", "--set-osd-string", f"disp-ctl=default,osd={text}"]


def test_osd_text_follows_each_key_press_to_the_tv(fake_cec, monkeypatch):
    monkeypatch.setenv("FAKE_CEC_PRESENT", "5")
    dev = fake_cec.device
    sink = CecSink(CecSettings(device=dev, osd=True, osd_texts={"play": "Swipe: play", "mute": ""}))
    sink.start()
    for action in ("play", "volume_up", "mute", "play_pause"):
        sink.handle(gesture_event(action=action))
    # The key goes to its target (volume: the audio system), the text always to the TV; "" shows nothing.
    assert fake_cec.calls() == [claim(dev), poll(dev, 5),
                                press(dev, 0, "play"), osd(dev, "Swipe: play"),
                                press(dev, 5, "volume-up"), osd(dev, "Volume +"),
                                press(dev, 5, "mute"),
                                press(dev, 0, "pause-play-function"), osd(dev, "Play/Pause")]
    assert sink.counters == {"sent": 4, "dropped": 0, "failed": 0}


def test_osd_failure_is_logged_but_the_action_counts_as_sent(fake_cec, monkeypatch, caplog):
    dev = fake_cec.device
    sink = CecSink(CecSettings(device=dev, volume_target="tv", osd=True))
    sink.start()
    monkeypatch.setenv("FAKE_CEC_MODE", "osd-nack")
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.handle(gesture_event(gesture="Stop", action="pause"))
    assert sink.counters == {"sent": 1, "dropped": 0, "failed": 0}
    assert [r.getMessage() for r in caplog.records] == [
        "cec: on-screen text 'Pause' for pause (Stop) failed: Tx, Not Acknowledged (4), Max Retries via cec-ctl"]
    # No text after a key press that failed: the TV did not get the key either.
    fake_cec.clear()
    monkeypatch.setenv("FAKE_CEC_MODE", "nack")
    sink.handle(gesture_event(action="stop"))
    assert fake_cec.calls() == [press(dev, 0, "stop")]


def test_osd_text_with_cec_client(fake_cec):
    sink = CecSink(CecSettings(device=fake_cec.device, tool="cec-client", volume_target="tv", osd=True))
    sink.handle(gesture_event(action="play"))
    # tx <source 4><TV 0>:<Set OSD String 0x64>:<display control default 0x00>:"Play" in ASCII
    assert fake_cec.calls() == [CLIENT + ["tx 40:44:44\n"], CLIENT + ["tx 40:45\n"],
                                CLIENT + ["tx 40:64:00:50:6C:61:79\n"]]


def test_real_cec_ctl_parses_the_osd_arguments(tmp_path):
    """The installed cec-ctl itself: our OSD command line gets through its argument parser to the device (a
    plain file here: 'unconfigured'), while a comma in the text would be refused (why the config forbids it)."""
    import shutil
    import subprocess

    cec_ctl = shutil.which("cec-ctl")
    assert cec_ctl, "cec-ctl is missing: sudo apt install v4l-utils"
    device = tmp_path / "not-a-cec-device"
    device.write_text("")
    ok = subprocess.run(cec_ctl_osd_argv(cec_ctl, str(device), "Volume +"), capture_output=True, text=True,
                        timeout=30)
    assert (ok.returncode, ok.stderr.strip()) == (0, "Adapter is unconfigured, please configure it first.")
    comma = subprocess.run(cec_ctl_osd_argv(cec_ctl, str(device), "Hi, TV"), capture_output=True, text=True,
                           timeout=30)
    assert comma.returncode == 1 and "Invalid suboptions specified" in comma.stderr


def test_gesture_names_with_control_characters_stay_on_one_log_line(fake_cec, monkeypatch, caplog):
    dev = fake_cec.device
    sink = CecSink(CecSettings(device=dev, volume_target="tv"))
    sink.start()
    monkeypatch.setenv("FAKE_CEC_MODE", "exit1")
    with caplog.at_level(logging.WARNING, logger="edge.sinks.cec"):
        sink.handle(gesture_event(gesture="Stop\ncec: play (Swipe) -> TV (0)", action="stop"))
    assert [r.getMessage() for r in caplog.records] == [
        "cec: stop ('Stop\\ncec: play (Swipe) -> TV (0)') failed: cec-ctl stop -> TV (0): exit status 1: "
        "Failed to open /dev/cec0: Device or resource busy"]
