#!/usr/bin/env bash
# scripts/bench/int8.ts on the emulated aarch64 board (Cortex-A72 under qemu-user) that
# scripts/agent-arm64/run.sh sets up (run that once first: it unpacks Debian's arm64 node into $WORK/root and
# writes the Raspberry Pi 4 style cpuinfo that the native onnxruntime-node needs). The exports are made here
# natively (the board's node does not run the exporter); the script, bundled by esbuild, times them there.
#
#   sudo bash scripts/bench/int8-arm64.sh [--rounds 10]      # writes scripts/bench/results/int8-arm64.json
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${S4OP_ARM64_DIR:-/tmp/s4op-arm64}
if [ ! -x "$WORK/node-arm64" ] || [ ! -f "$WORK/fake/cpuinfo" ]; then
  echo "no emulated board in $WORK: run scripts/agent-arm64/run.sh first" >&2
  exit 1
fi
cd "$REPO"
MODELS=$WORK/int8-models
rm -rf "$MODELS" # exported afresh: the exporter may have changed since the last run
BUNDLE=$REPO/scripts/bench/.int8-arm64.mjs
trap 'rm -f "$BUNDLE"' EXIT
npx --no-install tsx scripts/bench/int8.ts --runtimes none --models-dir "$MODELS" --out .int8-exports >/dev/null
rm -f scripts/bench/results/.int8-exports.json
npx --no-install esbuild scripts/bench/int8.ts --bundle --platform=node --format=esm --packages=external \
  --outfile="$BUNDLE" --log-level=warning
unshare -m --propagation private sh -c "
  mount --bind '$WORK/fake/cpuinfo' /proc/cpuinfo &&
  mount --bind '$WORK/fake/cpu' /sys/devices/system/cpu &&
  exec '$WORK/node-arm64' '$BUNDLE' --models-dir '$MODELS' --out int8-arm64 $*
"
