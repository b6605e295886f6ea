"""The base (edge) install resolves to binary wheels on a Raspberry Pi, and never replaces Debian's numpy.

Pi OS trixie (Debian 13: CPython 3.13, python3-numpy 2.2.4) and bookworm (Debian 12: CPython 3.11,
python3-numpy 1.24.2), aarch64. The venv is made with --system-site-packages so python3-picamera2 is seen;
numpy is held at Debian's version (scripts/setup.sh --edge-only), so the resolution must succeed with that
exact numpy and only wheels for the release's glibc. Needs the package index, as the rest of set-up does.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from conftest import ROOT

PI_RELEASES = {
    # release: (python version, glibc, Debian's numpy)
    "trixie": ("3.13", (2, 41), "2.2.4"),
    "bookworm": ("3.11", (2, 36), "1.24.2"),
}


def base_requirements(python: str, machine: str) -> list[str]:
    """The base install's requirements whose markers hold for this Python and machine (Linux, CPython)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = {"python_version": python, "python_full_version": f"{python}.0", "platform_machine": machine,
           "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    kept = []
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(env):
            requirement.marker = None
            kept.append(str(requirement))
    return kept


def test_markers_pick_one_opencv_range_per_release() -> None:
    """Bookworm (numpy 1.x) keeps OpenCV below 4.12 (later wheels need numpy 2); trixie and x86 do not."""
    bookworm = base_requirements("3.11", "aarch64")
    trixie = base_requirements("3.13", "aarch64")
    x86 = base_requirements("3.11", "x86_64")
    opencv = {name: [r for r in reqs if r.startswith("opencv")] for name, reqs in
              (("bookworm", bookworm), ("trixie", trixie), ("x86", x86))}
    assert opencv == {"bookworm": ["opencv-python-headless<4.12,>=4.8"],
                      "trixie": ["opencv-python-headless>=4.8"], "x86": ["opencv-python-headless>=4.8"]}
    for reqs in (bookworm, trixie, x86):
        numpy = [r for r in reqs if r.startswith("numpy")]
        assert numpy == ["numpy>=1.23"], "an upper bound on numpy would fight Debian's numpy on one release"


@pytest.mark.slow
@pytest.mark.parametrize("release", sorted(PI_RELEASES))
def test_pi_install_resolves_to_wheels_with_debian_numpy(release: str, tmp_path: Path) -> None:
    python, (glibc_major, glibc_minor), debian_numpy = PI_RELEASES[release]
    platforms = ["manylinux2014_aarch64"] + [f"manylinux_{glibc_major}_{minor}_aarch64"
                                             for minor in range(17, glibc_minor + 1)]
    abi = "cp" + python.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(tmp_path),
           "--python-version", python, "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
           *[arg for platform in platforms for arg in ("--platform", platform)],
           f"numpy=={debian_numpy}", *base_requirements(python, "aarch64")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert proc.returncode == 0, f"{release}: the base install does not resolve to wheels: {errors}"
    wheels = sorted(p.name for p in tmp_path.iterdir())
    assert all(name.endswith(".whl") for name in wheels), wheels
    numpy = [name for name in wheels if name.startswith("numpy-")]
    assert numpy and numpy[0].startswith(f"numpy-{debian_numpy}-"), numpy
    assert any(name.startswith("ai_edge_litert-") for name in wheels), wheels
    assert any(name.startswith("opencv_python_headless-") for name in wheels), wheels
