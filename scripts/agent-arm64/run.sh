#!/usr/bin/env bash
# Runs the S4oP agent as an emulated aarch64 board (Cortex-A72, Raspberry Pi 4 style) on this x86 machine,
# against a host (`s4op serve`) on loopback, and profiles one model with the native onnxruntime-node and
# with onnxruntime-web. Needs root (apt-get, unshare, mount) and Debian's package archive.
#
#   sudo bash scripts/agent-arm64/run.sh            # output also goes to scripts/bench/results/agent-arm64.txt
#   S4OP_ARM64_PAIRS=DIR S4OP_ARM64_TUNE=0 S4OP_ARM64_OUT=out.txt sudo -E bash scripts/agent-arm64/run.sh
#                                                   # also: every DIR/*.onnx paired with DIR/base.onnx
#
# Then, on the same emulated board: its MatMul peak (s4op-agent peak) and the export tuner on a model of the
# demo's shape (s4op export --tune: every conv variant and block length, paired against the static choice),
# whose winner is recorded for the class `arm64` (S4OP_ARM64_TUNE=0 skips this part).
#
# How: Debian's arm64 `nodejs` and its libraries are downloaded (apt-get download) and unpacked with
# dpkg -x into a folder that qemu-aarch64-static uses as its root for libraries (-L). The agent's
# measurement processes are started through a wrapper (S4OP_CHILD_NODE), since a process under qemu-user
# cannot exec a foreign binary without binfmt_misc. onnxruntime-web runs as is; the native
# onnxruntime-node detects the CPU from /proc/cpuinfo and /sys/devices/system/cpu and crashes on the
# x86 ones, so the agent runs inside `unshare -m` with Raspberry Pi 4 style versions bind-mounted there.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${S4OP_ARM64_DIR:-/tmp/s4op-arm64}
OUT=${S4OP_ARM64_OUT:-$REPO/scripts/bench/results/agent-arm64.txt}
ROOT=$WORK/root
TOKEN=arm64-$$
say() { echo "== $*"; }

mkdir -p "$WORK/debs" "$ROOT"
exec > >(tee "$OUT") 2>&1
say "emulated aarch64 board run, $(date -u +%FT%TZ), host $(uname -m) $(nproc) cores"

if ! command -v qemu-aarch64-static >/dev/null; then
  say "installing qemu-user-static"
  apt-get install -y -q qemu-user-static >/dev/null
fi
if [ ! -x "$ROOT/usr/bin/node" ]; then
  say "downloading Debian's arm64 nodejs and its libraries"
  dpkg --add-architecture arm64
  apt-get update -q >/dev/null
  cd "$WORK/debs"
  # Architecture-specific libraries from the dependency closure, plus the arch-independent JS that
  # Debian's node loads at start (acorn, cjs-module-lexer, undici and theirs).
  libs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances --no-pre-depends nodejs:arm64 | grep -E '^[a-z].*:arm64$' | grep -vE '^(dpkg|install-info|debconf)' | sort -u)
  js=$(apt-cache depends --recurse --no-recommends --no-suggests node-acorn node-cjs-module-lexer node-undici \
    | grep -E '^node-' | sort -u)
  apt-get download -q nodejs:arm64 $libs $js 2>&1 | grep -v "^W: Download is performed unsandboxed" || true
  for deb in *.deb; do dpkg -x "$deb" "$ROOT"; done
  cd "$REPO"
fi

NODE_ARM64=$WORK/node-arm64
cat > "$NODE_ARM64" <<WRAP
#!/bin/sh
exec qemu-aarch64-static -cpu cortex-a72 -L "$ROOT" "$ROOT/usr/bin/node" "\$@"
WRAP
chmod +x "$NODE_ARM64"
say "node under emulation: $("$NODE_ARM64" -p 'process.arch + " " + process.version')"

say "Raspberry Pi 4 style /proc/cpuinfo and /sys/devices/system/cpu"
FAKE=$WORK/fake
rm -rf "$FAKE" && mkdir -p "$FAKE/cpu"
: > "$FAKE/cpuinfo"
for i in 0 1 2 3; do
  printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$i" >> "$FAKE/cpuinfo"
  mkdir -p "$FAKE/cpu/cpu$i/cpufreq" "$FAKE/cpu/cpu$i/topology"
  echo 1500000 > "$FAKE/cpu/cpu$i/cpufreq/cpuinfo_max_freq"
  echo 600000 > "$FAKE/cpu/cpu$i/cpufreq/cpuinfo_min_freq"
  echo 1500000 > "$FAKE/cpu/cpu$i/cpufreq/scaling_cur_freq"
  echo 0 > "$FAKE/cpu/cpu$i/topology/physical_package_id"
  echo "$i" > "$FAKE/cpu/cpu$i/topology/core_id"
  echo 0-3 > "$FAKE/cpu/cpu$i/topology/core_siblings_list"
  echo "$i" > "$FAKE/cpu/cpu$i/topology/thread_siblings_list"
done
printf 'Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n' >> "$FAKE/cpuinfo"
for f in possible present online; do echo 0-3 > "$FAKE/cpu/$f"; done

[ -f "$REPO/agent/dist/cli.js" ] && [ -f "$REPO/host/dist/cli/main.js" ] || (cd "$REPO" && npm run build --silent)
MODEL=$WORK/mlp-64x4.onnx
(cd "$REPO" && npx --no-install tsx scripts/agent-arm64/model.ts "$MODEL" 64 4 >/dev/null 2>&1)

say "host: s4op serve on loopback (native x86)"
SERVE_LOG=$WORK/serve.log
node "$REPO/host/dist/cli/main.js" serve --port 0 --token "$TOKEN" > "$SERVE_LOG" 2>&1 &
SERVE_PID=$!
AGENT_PID=
cleanup() {
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null || true
  kill "$SERVE_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q '^listening on' "$SERVE_LOG" && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$SERVE_LOG")
say "host listens on $URL"

say "agent: emulated aarch64 in its own mount namespace"
AGENT_LOG=$WORK/agent.log
unshare -m --propagation private sh -c "
  mount --bind '$FAKE/cpuinfo' /proc/cpuinfo &&
  mount --bind '$FAKE/cpu' /sys/devices/system/cpu &&
  exec env S4OP_TOKEN='$TOKEN' S4OP_CHILD_NODE='$NODE_ARM64' '$NODE_ARM64' '$REPO/agent/dist/cli.js' \
    --host '$URL' --name pi4-emu --tags arm64,emulated --cache-dir '$WORK/agent-cache'
" > "$AGENT_LOG" 2>&1 &
AGENT_PID=$!

BENCH=(node "$REPO/host/dist/cli/main.js" bench --server "$URL" --token "$TOKEN" --agent pi4-emu
  --dims batch=1 --warmup-ms 500 --warmup-runs 5 --min-duration-ms 2000 --min-samples 32 --timeout-ms 600000 --wait-agent-ms 600000)
for runtime in onnxruntime-node onnxruntime-web; do
  say "s4op bench on the emulated board with $runtime"
  "${BENCH[@]}" --model "$MODEL" --runtime "$runtime" 2>/dev/null || echo "bench with $runtime failed (exit $?)"
done

if [ "${S4OP_ARM64_TUNE:-1}" != 0 ]; then
  CK=$WORK/demo-shape
  (cd "$REPO" && npx --no-install tsx scripts/agent-arm64/checkpoint.ts "$CK" >/dev/null 2>&1)
  say "export tuning of the demo-shaped S4D (d_model 32, d_state 32, 4 layers, L 196) on the emulated board"
  node "$REPO/host/dist/cli/main.js" export --checkpoint "$CK" --mode conv --length 196 --tune --server "$URL" --token "$TOKEN" \
    --agent pi4-emu --device-class arm64 --workspace "$WORK/ws" --wait-agent-ms 600000 \
    --settings '{"warmup_ms":500,"warmup_runs":5,"min_duration_ms":2000,"min_samples":32,"timeout_ms":600000}' 2>&1 \
    | grep -v '^\s*$' || echo "export --tune failed (exit $?)"
  say "the tuned export measured on the emulated board (achieved GFLOP/s and the fraction of the board's MatMul peak)"
  node "$REPO/host/dist/cli/main.js" export --checkpoint "$CK" --mode conv --length 196 --device-class arm64 --workspace "$WORK/ws" \
    --out "$WORK/demo-tuned.onnx" 2>&1 | grep -v '^\s*$' || true
  "${BENCH[@]}" --model "$WORK/demo-tuned.onnx" --runtime onnxruntime-node 2>/dev/null || echo "bench of the tuned export failed (exit $?)"
fi

if [ -n "${S4OP_ARM64_PAIRS:-}" ]; then
  # A folder with base.onnx and candidates (scripts/bench/axes.ts --export-dir): each timed interleaved with
  # the base on the emulated board, the ratio B/A being what the search decides on.
  for m in "$S4OP_ARM64_PAIRS"/*.onnx; do
    [ "$(basename "$m")" = base.onnx ] && continue
    say "paired on the emulated board: $(basename "$m") vs base.onnx (onnxruntime-node)"
    "${BENCH[@]}" --model "$S4OP_ARM64_PAIRS/base.onnx" --model-b "$m" --runtime onnxruntime-node --json 2>/dev/null \
      | node -e 'let t="";process.stdin.on("data",d=>t+=d).on("end",()=>{const r=JSON.parse(t).measurement.ratio;console.log("pair",process.argv[1],JSON.stringify({ratio:r.median,low:r.median_ci.low,high:r.median_ci.high,pairs:r.n}))})' "$(basename "$m" .onnx)" \
      || echo "paired bench of $(basename "$m") failed (exit $?)"
  done
fi

say "agent log"
sed 's/^[0-9T:.-]*Z //' "$AGENT_LOG"
say "host log"
sed 's/^[0-9T:.-]*Z //' "$SERVE_LOG"
say "done"
