#!/usr/bin/env bash
# Release check: the edge install and run on an emulated arm64 Debian, compared with this machine (x86).
#
#   scripts/check-arm64.sh [trixie|bookworm] [--bundle DIR] [--cpu cortex-a72|cortex-a76] [--rebuild]
#                          [--prepare] [--strict]
#
# 1. Builds (or reuses) an arm64 Debian root from Debian's own packages (qemu-user-static, mmdebstrap) under
#    ${GESTURE_ARM64_CACHE:-~/.cache/gesture-edge-arm64}/RELEASE. Under emulation that takes 25-40 minutes;
#    later runs reuse it (--rebuild starts over; --prepare only builds it and stops).
# 2. Copies this source tree into it and installs the edge stage exactly as docs/RASPBERRY_PI.md says:
#    `bash scripts/setup.sh --edge-only` (Debian packages, a --system-site-packages venv, Debian's numpy kept).
#    python3-picamera2 is only in Raspberry Pi's archive, which is not used here; python3-numpy, which it
#    pulls in on a Pi, is installed instead, so the venv sees the same numpy a Pi's venv does.
# 3. Runs `gesture-edge run` on the demo stream there and here, twice: on identical frames (the stream decoded
#    once, here, into PNG files) and on the video itself (each side decodes with its own OpenCV wheel).
#    Identical frames must give identical events (exit 1 otherwise); a difference on the video is reported
#    (decoders differ by a few grey levels) and is an error only with --strict.
#
# Needs root (or sudo) for the chroot; the host must be Debian/Ubuntu with the project set up
# (scripts/setup.sh) when no --bundle is given, to convert the demo model. Results: out/arm64-RELEASE/.
# Known emulator traps, handled here: qemu 7.2 (Debian 12) shows the host's x86 /proc/cpuinfo to the arm64
# process and XNNPACK crashes while loading a model, so a Raspberry Pi 4 cpuinfo is bind-mounted over it; and
# qemu's default "max" CPU offers instructions (newer than any Pi's) whose emulation gives XNNPACK's int8 kernels
# wrong results (every window alike), so the emulated CPU is the Pi's own: QEMU_CPU=cortex-a72 (Pi 4), or
# --cpu cortex-a76 for a Pi 5.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

release=trixie bundle="" rebuild=0 strict=0 prepare=0 cpu=cortex-a72
while [ $# -gt 0 ]; do
  case "$1" in
    trixie|bookworm) release=$1 ;;
    --bundle) bundle=${2:?--bundle needs a folder}; shift ;;
    --rebuild) rebuild=1 ;;
    --strict) strict=1 ;;
    --prepare) prepare=1 ;;
    --cpu) cpu=${2:?--cpu needs a qemu CPU name, e.g. cortex-a72 or cortex-a76}; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "check-arm64: error: unknown argument '$1' (expected trixie, bookworm, --bundle DIR, --cpu NAME, --rebuild, --prepare, --strict)" >&2
       exit 2 ;;
  esac
  shift
done
say() { printf '[check-arm64 %s] %s\n' "$release" "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  exec sudo --preserve-env=GESTURE_ARM64_CACHE "$0" "$release" ${bundle:+--bundle "$bundle"} --cpu "$cpu" \
    $([ "$rebuild" = 1 ] && echo --rebuild) $([ "$strict" = 1 ] && echo --strict) \
    $([ "$prepare" = 1 ] && echo --prepare)
fi

cache=${GESTURE_ARM64_CACHE:-$HOME/.cache/gesture-edge-arm64}
root=$cache/$release
out=$repo/out/arm64-$release
mkdir -p "$out" "$cache"

# --- host tools and the arm64 binfmt handler -----------------------------------------------------------
missing=()
for pkg in qemu-user-static mmdebstrap binfmt-support arch-test; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing host packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
arch-test arm64 >/dev/null || { echo "check-arm64: error: this host cannot run arm64 binaries (binfmt_misc with qemu-aarch64 is not working)" >&2; exit 1; }

# --- the arm64 root ------------------------------------------------------------------------------------
if [ "$rebuild" = 1 ]; then rm -rf "$root"; fi
if [ ! -f "$root/.gesture-edge-root" ]; then
  rm -rf "$root" "$root.tmp"
  say "building an arm64 $release root with mmdebstrap (25-40 minutes under emulation)"
  mmdebstrap --arch=arm64 --variant=apt --include=ca-certificates,sudo,git \
    "$release" "$root.tmp" http://deb.debian.org/debian > "$out/mmdebstrap.log" 2>&1 \
    || { echo "check-arm64: error: mmdebstrap failed, see $out/mmdebstrap.log" >&2; exit 1; }
  touch "$root.tmp/.gesture-edge-root"
  mv "$root.tmp" "$root"
fi
if [ "$prepare" = 1 ]; then say "root ready: $root"; exit 0; fi

# --- a bundle and the demo stream as identical frames --------------------------------------------------
if [ -z "$bundle" ]; then
  bundle=$out/bundle
  [ -x .venv/bin/gesture-convert ] || { echo "check-arm64: error: no --bundle and no .venv/bin/gesture-convert: run scripts/setup.sh first" >&2; exit 1; }
  say "converting the demo model into $bundle (this tree's converter)"
  .venv/bin/gesture-convert models/demo/model.keras --calib calib_data --out "$bundle" --force \
    --min-agreement 0 > "$out/convert.log" 2>&1 \
    || { echo "check-arm64: error: gesture-convert failed, see $out/convert.log" >&2; exit 1; }
fi
[ -f "$bundle/manifest.json" ] || { echo "check-arm64: error: $bundle: no manifest.json (not a gesture-convert bundle)" >&2; exit 1; }
stream=demo/streams/demo.mp4
frames=$out/frames
if [ ! -f "$frames/.complete" ]; then
  rm -rf "$frames"; mkdir -p "$frames"
  .venv/bin/python - "$stream" "$frames" <<'PY'
import sys, cv2
cap = cv2.VideoCapture(sys.argv[1])
n = 0
while True:
    ok, frame = cap.read()
    if not ok:
        break
    cv2.imwrite(f"{sys.argv[2]}/{n:05d}.png", frame)
    n += 1
print(f"{n} frames at {cap.get(cv2.CAP_PROP_FPS):g} fps", file=sys.stderr)
open(f"{sys.argv[2]}/.fps", "w").write(f"{cap.get(cv2.CAP_PROP_FPS):g}")
PY
  touch "$frames/.complete"
fi
fps=$(cat "$frames/.fps")

# --- x86 (this machine) --------------------------------------------------------------------------------
say "x86: gesture-edge run on the video and on its frames"
.venv/bin/gesture-edge run --bundle "$bundle" --source "$stream" --sink log > "$out/x86-video.jsonl" 2> "$out/x86-video.log"
.venv/bin/gesture-edge run --bundle "$bundle" --source "$frames" --folder-fps "$fps" --sink log \
  > "$out/x86-frames.jsonl" 2> "$out/x86-frames.log"

# --- arm64: fresh copy of the tree, the documented install, the same two runs ---------------------------
say "arm64: copying the source tree and installing as docs/RASPBERRY_PI.md says (scripts/setup.sh --edge-only)"
rm -rf "$root/root/gesture-edge" "$root/root/check"
mkdir -p "$root/root/gesture-edge" "$root/root/check"
git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -C "$root/root/gesture-edge" -xf -
cp -r "$bundle" "$root/root/check/bundle"
cp -r "$frames" "$root/root/check/frames"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# pip inside the root reaches the same index as pip here: the index settings and, where the host's pip
# trusts an extra CA (a proxy's), that CA bundle too.
pip_env=("QEMU_CPU=$cpu")
for var in PIP_INDEX_URL PIP_DEFAULT_TIMEOUT; do
  [ -n "${!var:-}" ] && pip_env+=("$var=${!var}")
done
host_cert=${PIP_CERT:-$(.venv/bin/python -m pip config get global.cert 2>/dev/null || true)}
if [ -n "$host_cert" ] && [ -f "$host_cert" ]; then
  cp "$host_cert" "$root/etc/ssl/certs/gesture-edge-host-ca.pem"
  pip_env+=("PIP_CERT=/etc/ssl/certs/gesture-edge-host-ca.pem")
fi
cpuinfo=$cache/cpuinfo-pi4
{
  for i in 0 1 2 3; do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
    printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
  done
  printf 'Hardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n'
} > "$cpuinfo"

inner=$(cat <<EOF
set -euo pipefail
export HOME=/root LC_ALL=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
cd /root/gesture-edge
uname -m
bash scripts/setup.sh --edge-only
.venv/bin/python -c 'import sys, numpy, cv2; print("python", sys.version.split()[0], "numpy", numpy.__version__, numpy.__file__, "opencv", cv2.__version__)'
.venv/bin/python -m pip list --format=freeze > /root/check/pip-freeze.txt
.venv/bin/gesture-edge --version
.venv/bin/gesture-edge run --bundle /root/check/bundle --source demo/streams/demo.mp4 --sink log > /root/check/arm64-video.jsonl 2> /root/check/arm64-video.log
.venv/bin/gesture-edge run --bundle /root/check/bundle --source /root/check/frames --folder-fps $fps --sink log > /root/check/arm64-frames.jsonl 2> /root/check/arm64-frames.log
EOF
)
say "arm64 ($cpu): running (minutes under emulation; log: $out/arm64.log)"
rc=0
unshare --mount --fork bash -c '
  set -e
  root=$1 cpuinfo=$2 inner=$3
  mount -t proc proc "$root/proc"
  mount -t sysfs sys "$root/sys"
  mount --rbind /dev "$root/dev"
  mount --bind "$cpuinfo" "$root/proc/cpuinfo"
  shift 3
  exec chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" \
    /bin/bash -c "$inner"
' _ "$root" "$cpuinfo" "$inner" "${pip_env[@]}" > "$out/arm64.log" 2>&1 || rc=$?
cp "$root"/root/check/*.jsonl "$root"/root/check/*.log "$root/root/check/pip-freeze.txt" "$out/" 2>/dev/null || true
if [ "$rc" != 0 ]; then
  tail -n 20 "$out/arm64.log" >&2
  echo "check-arm64: error: the arm64 install or run failed (exit $rc), see $out/arm64.log" >&2
  exit 1
fi
grep -E '^(aarch64|python |gesture-edge )' "$out/arm64.log" >&2 || true

# --- compare ---------------------------------------------------------------------------------------------
.venv/bin/python - "$out" "$strict" <<'PY'
import json, sys
from pathlib import Path

out, strict = Path(sys.argv[1]), sys.argv[2] == "1"

def events(name):
    return [(e["gesture"], round(e["t_s"], 2)) for e in
            (json.loads(line) for line in (out / name).read_text().splitlines() if line.strip())]

failed = False
for kind, must_match in (("frames", True), ("video", strict)):
    x86, arm = events(f"x86-{kind}.jsonl"), events(f"arm64-{kind}.jsonl")
    same = x86 == arm
    print(f"{kind:6s}: x86 {len(x86)} events, arm64 {len(arm)} events: {'SAME' if same else 'DIFFERENT'}")
    if not same:
        print(f"  x86:   {x86}\n  arm64: {arm}")
        failed |= must_match
if failed:
    print("check-arm64: FAILED")
    sys.exit(1)
print("check-arm64: ok")
PY
