"""The systemd units: `systemd-analyze verify` is clean for both, the CEC system unit's offline security
exposure is <= 1.5, and the edge inference really runs under MemoryDenyWriteExecute's seccomp filter."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USER_UNIT = ROOT / "systemd" / "gesture-edge.service"
SYSTEM_UNIT = ROOT / "systemd" / "gesture-edge-cec.service"
MAX_EXPOSURE = 1.5


def analyze(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: sudo apt install systemd"
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "", **(env or {})},
                          cwd=cwd)


def directives(path: Path) -> dict[str, list[str]]:
    """'Section.Key' -> values, in order (repeatable keys like DeviceAllow keep every line)."""
    out: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return out


def render_system_unit(tmp_path: Path, extra: str = "") -> Path:
    """A copy of the system unit whose ExecStart binary exists here (verify checks it); same file name."""
    text = SYSTEM_UNIT.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    binary = exec_line.split("=", 1)[1].split()[0]
    assert binary == "/opt/gesture-edge/.venv/bin/gesture-edge"
    rendered = tmp_path / SYSTEM_UNIT.name
    rendered.write_text(text.replace(f"ExecStart={binary}", f"ExecStart={sys.executable}") + extra)
    return rendered


def user_env(tmp_path: Path) -> dict[str, str]:
    """HOME with the documented venv path (so %h/... resolves to an executable) and a runtime dir."""
    home = tmp_path / "home"
    binary = home / "gesture-edge" / ".venv" / "bin" / "gesture-edge"
    binary.parent.mkdir(parents=True)
    binary.symlink_to(sys.executable)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    return {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}


def assert_clean(result: subprocess.CompletedProcess, what: str) -> None:
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not output, f"{what}: exit {result.returncode}\n{output}"


def test_system_unit_verifies_cleanly(tmp_path):
    assert_clean(analyze("verify", str(render_system_unit(tmp_path))), "systemd-analyze verify (system unit)")


def test_user_unit_verifies_cleanly(tmp_path):
    assert_clean(analyze("--user", "verify", str(USER_UNIT), env=user_env(tmp_path)),
                 "systemd-analyze --user verify (user unit)")


def test_verify_would_catch_a_mistake(tmp_path):
    """The two tests above are not vacuous: a typo'd directive or a missing binary makes verify talk."""
    bad = render_system_unit(tmp_path, extra="WatchdogSecs=10\n")
    result = analyze("verify", str(bad))
    assert "Unknown key 'WatchdogSecs'" in result.stdout + result.stderr
    missing = analyze("--user", "verify", str(USER_UNIT), env={**user_env(tmp_path / "x"), "HOME": str(tmp_path)})
    assert "is not executable" in missing.stdout + missing.stderr


def test_system_unit_security_exposure(tmp_path):
    unit = render_system_unit(tmp_path)
    result = analyze("security", "--offline=true", "--no-pager", str(unit))
    assert result.returncode == 0, result.stderr
    match = re.search(r"Overall exposure level for gesture-edge-cec\.service:\s*([0-9]+(?:\.[0-9]+)?)", result.stdout)
    assert match, result.stdout[-2000:]
    exposure = float(match.group(1))
    print(f"systemd-analyze security --offline=true gesture-edge-cec.service: exposure {exposure}")
    assert exposure <= MAX_EXPOSURE, result.stdout


def test_units_carry_the_service_contract():
    for unit in (USER_UNIT, SYSTEM_UNIT):
        d = directives(unit)
        for key, value in {"Service.Type": "notify", "Service.NotifyAccess": "main", "Service.WatchdogSec": "10",
                           "Service.Restart": "on-failure", "Service.RestartSec": "2",
                           "Service.TimeoutStopSec": "5", "Service.MemoryDenyWriteExecute": "yes",
                           "Service.NoNewPrivileges": "yes"}.items():
            assert d.get(key) == [value], f"{unit.name}: {key}={d.get(key)}"
        assert "Unit.StartLimitIntervalSec" in d and "Unit.StartLimitBurst" in d
        # ProcSubset=pid hides /proc/cpuinfo, which XNNPACK's cpuinfo needs on ARM.
        assert "Service.ProcSubset" not in d
    user = directives(USER_UNIT)
    assert user["Service.ExecStart"] == [
        "%h/gesture-edge/.venv/bin/gesture-edge run --config %h/.config/gesture-edge/config.toml"]
    system = directives(SYSTEM_UNIT)
    assert system["Service.User"] == ["gesture-edge"] and system["Service.Group"] == ["gesture-edge"]
    assert system["Service.SupplementaryGroups"] == ["video"]
    assert system["Service.DevicePolicy"] == ["closed"]
    assert system["Service.DeviceAllow"] == ["char-video4linux rw", "char-media rw", "char-cec rw",
                                             "char-dma_heap rw"]
    assert system["Service.RestrictAddressFamilies"] == ["AF_UNIX"]
    assert system["Service.PrivateNetwork"] == ["yes"]


MDWE_SCRIPT = r'''
"""Install the seccomp filter systemd uses for MemoryDenyWriteExecute=yes, then run the edge inference."""
import ctypes, errno, mmap, sys
lib = ctypes.CDLL("libseccomp.so.2")
class Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                       ctypes.POINTER(Cmp)]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
ALLOW, ERRNO_EPERM, MASKED_EQ = 0x7FFF0000, 0x00050000 | errno.EPERM, 7
PROT_WRITE, PROT_EXEC = 2, 4
ctx = lib.seccomp_init(ALLOW)
# As in systemd's seccomp_memory_deny_write_execute(): no W+X mmap, no mprotect/pkey_mprotect adding X.
for name, mask, value in (("mmap", PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC),
                          ("mprotect", PROT_EXEC, PROT_EXEC), ("pkey_mprotect", PROT_EXEC, PROT_EXEC)):
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    assert lib.seccomp_rule_add_array(ctx, ERRNO_EPERM, nr, 1, (Cmp * 1)(Cmp(2, MASKED_EQ, mask, value))) == 0
assert ctypes.CDLL(None).prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
assert lib.seccomp_load(ctx) == 0
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("the filter is not active")
except OSError:
    pass
import numpy as np, cv2
from edge.bundle import load_bundle
from edge.stream import classify_window
bundle = load_bundle(sys.argv[1])
m = bundle.manifest
camera = np.random.default_rng(0).integers(0, 256, (m.frames_per_clip, 240, 320, 3), dtype=np.uint8)
frames = np.stack([cv2.resize(f, (m.input_width_px, m.input_height_px), interpolation=cv2.INTER_AREA)
                   for f in camera])
probs = classify_window(bundle, frames)
print("MDWE OK", bundle.labels, np.round(probs, 3).tolist())
'''


def test_edge_inference_runs_under_memory_deny_write_execute(demo_bundle, tmp_path):
    """MemoryDenyWriteExecute=yes is in both units: numpy, OpenCV and TFLite/XNNPACK must not need W+X pages."""
    script = tmp_path / "mdwe.py"
    script.write_text(MDWE_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(demo_bundle)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "MDWE OK" in proc.stdout
    print(proc.stdout.strip().splitlines()[-1])
