#!/usr/bin/env bash
# Instruction counts per call of each variant of benches/dispatch.rs, under callgrind: stable
# whatever else the machine is doing. Usage: bash tests/benches/count.sh [calls]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-2000}
cargo bench -p tool-tests --bench dispatch --no-run >/dev/null 2>&1
bin=$(ls -t target/release/deps/dispatch-* | grep -v '\.d$' | head -1)
ir() {
  DISPATCH_COUNT="$1:$2" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A per
for v in baseline off on; do
  # The difference of two runs leaves out set-up and first-call costs.
  once=$(ir "$v" "$n")
  twice=$(ir "$v" $((2 * n)))
  per[$v]=$(( (twice - once) / n ))
  echo "$v: ${per[$v]} instructions per call"
done
awk -v b="${per[baseline]}" -v off="${per[off]}" -v on="${per[on]}" 'BEGIN {
  printf "toolbox (guards off) / baseline: %.2f\ntoolbox guards on / off: %.2f\n", off / b, on / off }'
