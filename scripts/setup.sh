#!/usr/bin/env bash
# One-time (idempotent) set-up of a fresh Debian/Ubuntu machine for this project:
#   Debian packages for the real-part tests (mpv + mpv-mpris + playerctl on a private D-Bus, cec-ctl,
#   systemd-analyze), a virtual environment .venv with the project and its [convert,dev] extras, and a
#   second one, .venv-tflite-runtime, so the tflite_runtime backend (numpy < 2) is tested for real too.
# Usage: scripts/setup.sh [--edge-only]
#   --edge-only: the Raspberry Pi install (docs/RASPBERRY_PI.md): Debian's python3-venv, python3-numpy and
#   v4l-utils (cec-ctl), python3-picamera2 where apt has it (Raspberry Pi OS), then .venv made with
#   --system-site-packages (so picamera2 is visible) and the base install, with numpy held at Debian's
#   version so that nothing in the venv shadows the numpy picamera2 is built against. No TensorFlow.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
edge_only=0
[ "${1:-}" = "--edge-only" ] && edge_only=1
if [ "$edge_only" = 1 ]; then
  APT_PACKAGES=(python3-venv python3-numpy v4l-utils)
else
  APT_PACKAGES=(python3-venv mpv mpv-mpris playerctl dbus v4l-utils cec-utils systemd espeak-ng sox)
fi

say() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"

apt_updated=0
apt_update_once() { [ "$apt_updated" = 1 ] || { $SUDO apt-get update -qq; apt_updated=1; }; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "$edge_only" = 1 ] && ! dpkg -s python3-picamera2 >/dev/null 2>&1; then
  if [ "${#missing[@]}" -gt 0 ]; then apt_update_once; fi
  if apt-cache show python3-picamera2 >/dev/null 2>&1; then
    missing+=(python3-picamera2)
  else
    say "python3-picamera2 is not in this system's apt sources (not Raspberry Pi OS): no camera module support; USB cameras (cam:N) and files work"
  fi
fi
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  apt_update_once
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup: Python >= 3.11 is needed, $PYTHON is $("$PYTHON" --version 2>&1)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  if [ "$edge_only" = 1 ]; then
    "$PYTHON" -m venv --system-site-packages .venv  # so apt's python3-picamera2 is visible on a Pi
  else
    "$PYTHON" -m venv .venv
  fi
fi
extras="[convert,dev]"; [ "$edge_only" = 1 ] && extras=""
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)$extras"
if [ ! -f "$stamp" ]; then
  say "installing the project into .venv ($extras)"
  if [ "$edge_only" = 1 ]; then
    # Hold numpy at the system's (Debian's) version: the venv must never get a numpy of its own that would
    # shadow the one python3-picamera2 was built against. No pip upgrade either: Debian's pip is enough.
    .venv/bin/python -c 'import numpy; print(f"numpy=={numpy.__version__}")' > .venv/constraints.txt
    .venv/bin/python -m pip install -q -c .venv/constraints.txt .
  else
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".$extras"
  fi
  touch "$stamp"
fi

# tflite_runtime 2.14 is the last release: CPython <= 3.11 and numpy 1.x only. Test it where it installs.
if [ "$edge_only" = 0 ] && "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  if [ ! -f .venv-tflite-runtime/.installed ]; then
    say "creating .venv-tflite-runtime (tflite-runtime 2.14, numpy < 2)"
    "$PYTHON" -m venv .venv-tflite-runtime
    .venv-tflite-runtime/bin/python -m pip install -q "tflite-runtime==2.14.0" "numpy<2" \
      && touch .venv-tflite-runtime/.installed
  fi
fi
say "ready: .venv"
