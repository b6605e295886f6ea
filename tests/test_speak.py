"""SpeakSink with the real espeak-ng: the spoken WAV is measured (length and loudness, with the wave module and
sox), the settings are shown to reach espeak-ng, and its failures are counted and logged on one line."""

from __future__ import annotations

import array
import logging
import math
import re
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from edge.settings import SPEECH_TEXTS, SpeakSettings
from edge.sinks import Dispatcher
from edge.sinks.speak import SpeakSink
from tests.fakes import gesture_event

SILENCE_RMS = 0.01
"""RMS of a 16-bit WAV, as a fraction of full scale, below which it counts as silence (espeak-ng speech at
its default amplitude measures about 0.09)."""


@pytest.fixture(autouse=True)
def tools() -> None:
    for tool in ("espeak-ng", "sox"):
        assert shutil.which(tool), f"{tool} is missing: sudo apt install espeak-ng sox"


def measure(path: Path) -> tuple[float, float]:
    """(duration in seconds, RMS as a fraction of full scale) of a 16-bit mono WAV, read with the wave module."""
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        frames = w.readframes(w.getnframes())
        duration_s = w.getnframes() / w.getframerate()
    samples = array.array("h", frames)
    rms = math.sqrt(sum(x * x for x in samples) / max(len(samples), 1)) / 32768
    return duration_s, rms


def sox_stat(path: Path) -> dict[str, float]:
    """`sox FILE -n stat`: its 'Length (seconds)' and 'RMS amplitude' lines (full scale = 1)."""
    proc = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    stats = {" ".join(key.split()): value  # sox pads its names: "RMS     amplitude"
             for key, value in re.findall(r"^(.+?):\s+(-?[\d.]+)\s*$", proc.stderr, flags=re.MULTILINE)}
    return {"length_s": float(stats["Length (seconds)"]), "rms": float(stats["RMS amplitude"])}


def speak(tmp_path: Path, *actions: str, **settings) -> tuple[SpeakSink, list[Path]]:
    sink = SpeakSink(SpeakSettings(**settings), wav_dir=tmp_path)
    sink.start()
    for action in actions:
        sink.handle(gesture_event(action=action))
    return sink, sorted(tmp_path.glob("*.wav"))


def test_each_action_is_spoken(tmp_path):
    sink, wavs = speak(tmp_path, "play", "volume_down")
    assert [p.name for p in wavs] == ["0000-play.wav", "0001-volume_down.wav"]
    assert sink.counters == {"sent": 2, "dropped": 0, "failed": 0}
    for path in wavs:
        duration_s, rms = measure(path)
        stat = sox_stat(path)
        print(f"{path.name}: {duration_s:.2f} s, RMS {rms:.3f} (sox: {stat['length_s']:.2f} s, {stat['rms']:.3f})")
        assert duration_s > 0.2 and rms > SILENCE_RMS
        assert stat["length_s"] == pytest.approx(duration_s, abs=0.001)
        assert stat["rms"] == pytest.approx(rms, rel=0.01)
    # "volume down" is two words, "play" one: the text per action is what is said.
    assert measure(wavs[1])[0] > measure(wavs[0])[0] + 0.15


def test_texts_speed_and_amplitude_reach_espeak(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    _, default = speak(tmp_path / "a", "pause")
    _, custom = speak(tmp_path / "b", "pause", texts={"pause": "the film is paused, see you soon"})
    _, fast_quiet = speak(tmp_path / "c", "pause", texts={"pause": "the film is paused, see you soon"},
                          speed_wpm=350, amplitude=20)
    (default_s, default_rms), (custom_s, custom_rms), (fast_s, quiet_rms) = (
        measure(default[0]), measure(custom[0]), measure(fast_quiet[0]))
    print(f"pause: {default_s:.2f} s; configured text: {custom_s:.2f} s; at 350 wpm: {fast_s:.2f} s")
    assert custom_s > 2 * default_s  # the configured text replaced "pause"
    assert fast_s < 0.75 * custom_s  # -s 350 instead of 175
    assert quiet_rms < 0.5 * custom_rms  # -a 20 instead of 100
    assert default_rms > SILENCE_RMS and quiet_rms > 0


def test_a_voice_espeak_does_not_have_is_a_failure_on_one_line(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edge.sinks.speak"):
        sink, wavs = speak(tmp_path, "play", voice="xx-no-such-voice")
    assert sink.counters == {"sent": 0, "dropped": 0, "failed": 1}
    assert [r.getMessage() for r in caplog.records] == [
        "speak: play (Swipe) failed: exit status 1: Error: The specified espeak-ng voice does not exist."]
    assert wavs == []


def test_an_audio_device_that_cannot_be_opened_is_a_failure(tmp_path, monkeypatch, caplog):
    """espeak-ng exits 0 when it cannot open the audio device and says `error: ...`: that is a failure."""
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'no-pulse'}")  # straight to ALSA
    sink = SpeakSink(SpeakSettings(device="gesture-edge-no-such-device"))
    with caplog.at_level(logging.WARNING, logger="edge.sinks.speak"):
        sink.handle(gesture_event(action="stop"))
    assert sink.counters == {"sent": 0, "dropped": 0, "failed": 1}
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert message.startswith("speak: stop (Swipe) failed: error: ")
    assert message.endswith("(audio device 'gesture-edge-no-such-device')")


def test_silent_actions_repeats_and_a_missing_espeak_are_dropped(tmp_path, monkeypatch, caplog):
    sink = SpeakSink(SpeakSettings(texts={"mute": ""}), wav_dir=tmp_path)
    with caplog.at_level(logging.INFO, logger="edge.sinks.speak"):
        sink.handle(gesture_event(action="mute"))
        sink.handle(gesture_event(action="mute"))
        sink.handle(gesture_event(action="volume_up", repeat=0))
        sink.handle(gesture_event(action="volume_up", repeat=1))  # an auto-repeat of the held gesture
        sink.handle(gesture_event(action="volume_up", repeat=2))
    assert [p.name for p in sorted(tmp_path.glob("*.wav"))] == ["0000-volume_up.wav"]
    assert sink.counters == {"sent": 1, "dropped": 4, "failed": 0}
    assert [r.getMessage() for r in caplog.records] == [
        "speak: no text for mute (Swipe): nothing said (logged once per action)",
        "speak: volume_up (Swipe) -> 'volume up'"]
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="edge.sinks.speak"):
        sink.handle(gesture_event(gesture="Stop", action="pause"))
    assert [r.getMessage() for r in caplog.records] == [
        "speak: dropped pause (Stop): espeak-ng not found on PATH (sudo apt install espeak-ng)"]


def test_every_action_has_a_default_text_and_the_argv_is_as_documented(tmp_path):
    from edge.vocab import ACTIONS

    assert set(SPEECH_TEXTS) == set(ACTIONS) and all(SPEECH_TEXTS.values())
    sink = SpeakSink(SpeakSettings(voice="en-us+f3", speed_wpm=150, amplitude=120, device="hdmi:CARD=vc4hdmi0"))
    assert sink.argv("/usr/bin/espeak-ng") == ["/usr/bin/espeak-ng", "-v", "en-us+f3", "-s", "150", "-a", "120",
                                               "-d", "hdmi:CARD=vc4hdmi0", "--stdin"]
    # Writing a WAV replaces the audio device.
    assert sink.argv("espeak-ng", tmp_path / "x.wav")[-3:] == ["-w", str(tmp_path / "x.wav"), "--stdin"]


def test_through_the_dispatcher(tmp_path):
    sink = SpeakSink(SpeakSettings(texts={"next": "next one"}), wav_dir=tmp_path)
    dispatcher = Dispatcher([sink])
    for action in ("next", "previous"):
        dispatcher.submit(gesture_event(action=action))
    assert dispatcher.close(timeout_s=30)
    assert [p.name for p in sorted(tmp_path.glob("*.wav"))] == ["0000-next.wav", "0001-previous.wav"]
    assert all(measure(p)[1] > SILENCE_RMS for p in tmp_path.glob("*.wav"))
    assert dispatcher.stats() == {"speak": {"sent": 2, "dropped": 0, "failed": 0, "queued": 0}}
