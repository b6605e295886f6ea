#!/usr/bin/env bash
# The main job on the bundled demo model, end to end, on this machine:
#   1. gesture-convert: models/demo/model.keras -> out/demo-bundle (full-integer TFLite + manifest + report)
#   2. gesture-edge run: the edge runtime on the synthetic demo stream, printing one JSON line per gesture
#   3. gesture-bench: per-stage latency of the streaming design against the alternatives, and event accuracy
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
bin=.venv/bin
mkdir -p out

printf '\n== 1/3  gesture-convert models/demo/model.keras --calib calib_data --out out/demo-bundle\n'
# Exit 1 means "converted, but int8/float agreement is below --min-agreement": the demo goes on with the
# bundle (kept for inspection) so you can see how it behaves; any other failure stops here.
rc=0; $bin/gesture-convert models/demo/model.keras --calib calib_data --out out/demo-bundle --force || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || exit "$rc"
sed -n '1,/^## Per-class/p' out/demo-bundle/report.md | grep -v '^## Per-class'

printf '\n== 2/3  gesture-edge run --bundle out/demo-bundle --source demo/streams/demo.mp4 --sink log\n'
$bin/gesture-edge run --bundle out/demo-bundle --source demo/streams/demo.mp4 --sink log | tee out/demo-events.jsonl
$bin/python - <<'PY'
import json
truth = json.load(open("demo/streams/demo.truth.json"))
got = [json.loads(line)["gesture"] for line in open("out/demo-events.jsonl") if line.strip()]
want = [e["gesture"] for e in truth["events"]]
print(f"expected gestures: {want}\nemitted gestures:  {got}\n{'MATCH' if got == want else 'DIFFERENT'}")
PY

printf '\n== 3/3  gesture-bench (latency per stage and variant; event accuracy on the demo stream)\n'
$bin/gesture-bench --bundle out/demo-bundle --source demo/streams/demo.mp4 --frames 300 --threads 1 \
  --json out/bench.json --markdown out/bench.md
$bin/gesture-bench events --bundle out/demo-bundle demo/streams/demo.mp4 --markdown out/events.md
printf '\nDone. Bundle: out/demo-bundle (report.md), events: out/demo-events.jsonl, benchmark: out/bench.md\n'
